# Quorum — `make run` for the embedded demo, `make test` for the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest workers; each gets its own PostgreSQL test database (test_quorum_gw0, test_quorum_gw1...).
PYTEST_WORKERS ?= 2

# `make run` is always the embedded mode (SQLite in var/, eager Celery, local-memory cache), even
# when the shell exports a deployment's configuration: a demo must never migrate or fill a real
# database. To run against PostgreSQL/Redis, export the variables and use manage.py directly.
EMBEDDED := env -u QUORUM_ENV -u DEBUG -u DATABASE_URL -u REDIS_URL -u CELERY_TASK_ALWAYS_EAGER \
	-u ALLOWED_HOSTS -u SECURE_SSL_REDIRECT -u EMAIL_HOST -u NUM_PROXIES -u TRUST_X_FORWARDED_PROTO \
	-u DJANGO_SETTINGS_MODULE

.PHONY: run install install-dev migrate demo serve examples test lint format pytest bench bench-import bench-export bench-http bench-load bench-adaptive bench-qc bench-multinode clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

# Dev = test and lint tools plus what the "proof it trains" tests need (requirements-train.txt
# includes requirements-dev.txt; torch is the CPU wheel).
$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt requirements-train.txt
	$(PIP) install --quiet -r requirements-train.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	@$(EMBEDDED) $(PY) manage.py migrate --noinput

demo: migrate
	@$(EMBEDDED) QUORUM_DEMO_BASE_URL=http://$(HOST):$(PORT) $(PY) manage.py load_demo

# The demo replay model (manage.py serve_demo_model) runs beside the server for the demo's dynamic
# stream, in the background, and is stopped when the server stops; Quorum may reach it because
# QUORUM_ENDPOINT_ALLOWED_HOSTS allows exactly its address.
# Fixed: the demo's endpoints (load_demo.DEMO_MODEL_URL) point at this port.
override DEMO_MODEL_PORT := 8001
# The periodic jobs (CELERY_BEAT_SCHEDULE: QC figures and rules, lease expiry, expired tests, the
# model judge's runs) run beside it too, in `manage.py run_periodic` (no Redis, no celery beat),
# stopped with the server; it may reach the demo model too (the judge asks it).
SERVE = @echo ""; echo "Quorum is starting on http://$(HOST):$(PORT)/ (Ctrl-C stops it)."; \
	$(EMBEDDED) $(PY) manage.py serve_demo_model --port $(DEMO_MODEL_PORT) & demo_model=$$!; \
	$(EMBEDDED) QUORUM_ENDPOINT_ALLOWED_HOSTS=127.0.0.1:$(DEMO_MODEL_PORT) $(PY) manage.py run_periodic & periodic=$$!; \
	trap 'kill $$demo_model $$periodic 2>/dev/null' EXIT INT TERM; \
	$(EMBEDDED) QUORUM_ENDPOINT_ALLOWED_HOSTS=127.0.0.1:$(DEMO_MODEL_PORT) $(PY) manage.py runserver $(HOST):$(PORT)

# docs/examples/: one export of the demo in every format, made on a throwaway SQLite database (the
# demo in var/ is not touched): migrate, load_demo, then manage.py export_examples.
examples: install-dev
	@tmp=$$(mktemp -d); db="sqlite:///$$tmp/examples.sqlite3"; \
	$(EMBEDDED) DATABASE_URL=$$db $(PY) manage.py migrate --noinput -v 0 \
	&& $(EMBEDDED) DATABASE_URL=$$db $(PY) manage.py load_demo > /dev/null \
	&& $(EMBEDDED) DATABASE_URL=$$db $(PY) manage.py export_examples --out docs/examples; \
	status=$$?; rm -rf $$tmp; exit $$status

# The demo database as it is, without (re)loading the demo.
serve: migrate
	$(SERVE)

run: demo
	$(SERVE)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# --dist loadgroup keeps tests marked xdist_group("celery") on one worker: they share one
# real Celery worker process.
pytest: install-dev
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test: lint pytest

# Benchmarks print numbers; they are not part of `make test` (see bench/README.md). Each makes and
# drops its own PostgreSQL database, whatever DATABASE_URL the shell exports.
bench: bench-import bench-export

bench-import: install-dev
	env -u DATABASE_URL $(PY) bench/import_items.py $(BENCH_ARGS)

bench-export: install-dev
	env -u DATABASE_URL $(PY) bench/export.py $(BENCH_ARGS)

bench-http: install-dev
	env -u DATABASE_URL $(PY) bench/http_annotators.py $(BENCH_ARGS)

# Simulated annotators with think time on `make run`'s setup and the production one (PostgreSQL,
# Redis, Celery, gunicorn with deploy/gunicorn.conf.py behind nginx with deploy/nginx.conf when
# installed): the most annotators served at p95 <= 150 ms, CPU per judgement. ~12 minutes;
# BENCH_ARGS=--quick: ~3.
bench-load: install-dev
	env -u DATABASE_URL $(PY) bench/load.py $(BENCH_ARGS)

bench-adaptive: install-dev
	env -u DATABASE_URL $(PY) bench/adaptive_overlap.py $(BENCH_ARGS)

bench-qc: install-dev
	env -u DATABASE_URL $(PY) bench/qc_recompute.py $(BENCH_ARGS)

bench-multinode: install-dev
	env -u DATABASE_URL $(PY) bench/multinode.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var staticfiles .mypy_cache .ruff_cache .pytest_cache
