"""gunicorn's configuration for Quorum's web processes (docs/production.md).

    .venv/bin/gunicorn -c deploy/gunicorn.conf.py

**Sync workers behind a buffering proxy (deploy/nginx.conf).** Quorum's requests are short and
CPU-bound (Python holds the GIL while it renders; the database round trips are sub-millisecond on
a local PostgreSQL), so a process per request in flight is the model that fits. nginx reads each
request whole before it passes it on and takes each answer whole before the client has read it,
so a slow or idle client never holds a worker; keep-alive lives between the browser and nginx,
and each request reaches whichever gunicorn worker is free (they share one listening socket). The
gthread worker without a proxy pinned each keep-alive connection to one process: at 32
connections the tail came from requests waiting on a busy process while another was idle
(bench/http_annotators.py, issue 3's closing note). Sync workers must never face clients
directly: run them behind the proxy.

**Workers: 2 per core + 1** (5 on 2 cores): enough that a core never waits while one worker waits
on PostgreSQL or Redis, few enough that they do not fight over the cores with PostgreSQL on the
same host. Override with ``GUNICORN_WORKERS``; ``bench/load.py --workers N`` measures others.
Each worker holds one PostgreSQL connection (``DB_CONN_MAX_AGE``): size ``max_connections`` for
all workers of all hosts plus the Celery workers.

Command-line options win over this file (``--bind 0.0.0.0:8000``), and ``GUNICORN_BIND`` sets the
address without one.
"""

from __future__ import annotations

import multiprocessing
import os

wsgi_app = "quorum.wsgi:application"
bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")]
worker_class = "sync"
workers = int(os.environ.get("GUNICORN_WORKERS", 2 * multiprocessing.cpu_count() + 1))
# Only bounds a stuck request: uploads stream to disk and large imports run on a Celery worker.
timeout = 60
graceful_timeout = 30
# Connections queued while every worker is busy; nginx holds the clients meanwhile.
backlog = 2048
# nginx logs every request (its access_log); gunicorn logs errors only.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
# X-Forwarded-* are honoured from the proxy on this host only (NUM_PROXIES tells Django the same).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
