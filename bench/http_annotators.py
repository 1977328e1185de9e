"""Simulated annotators over HTTP against the annotator API (issue 3, section 5).

    .venv/bin/python bench/http_annotators.py [--annotators 8,32,128] [--seconds 20]
    .venv/bin/python bench/http_annotators.py --sqlite

**PostgreSQL (default).** Creates a throwaway database (``quorum_bench_http`` on 127.0.0.1:5432, or
``--url``), migrates it, generates 100,000 items (overlap 3; ~1.5 KB of markdown each, a fenced
code block in every fourth) and one API token per annotator (``ApiToken.generate``), then starts
gunicorn on 127.0.0.1:<free port> with production-like settings (``DEBUG=0``, persistent
connections) and, for each concurrency level, runs that many simulated annotators: threads, each
with its own keep-alive ``http.client`` connection and token, looping ``GET next`` -> ``POST
judgement`` (with an ``Idempotency-Key``) with no think time, after a short unmeasured warm-up,
bounded by ``--seconds`` and ``--judgements``. Prints judgements/s, p50/p95/p99 of next and of
submit, the load average before and after each level, the CPU time one next+submit cost the
server's processes, the PostgreSQL backends and this client (from /proc: unlike rates and
latencies, it holds on a machine busy with other work), and at the end the overlap check in SQL
(must be 0 violations) and that every 201 is a stored judgement.

The annotators have no think time, so the latencies are queueing, not service, times: by Little's
law the mean next+submit is annotators / throughput (32 annotators at 200 judgements/s: 160 ms).

Server: ``gunicorn -k gthread -w 4 --threads 2`` by default (``--workers``/``--threads``). On two
cores the request path is CPU-bound Python (the GIL): processes give parallelism, a few threads per
process overlap the database round trips and keep idle keep-alive connections cheap; more
processes than that only add context switches and memory (``--compare`` measures the candidates).

**--sqlite.** The ``make run`` setup: ``manage.py runserver`` (threaded, autoreloader on) on an
SQLite file, ``DEBUG`` on, eager Celery, with a fresh file under a temporary directory instead of
``var/quorum.sqlite3`` (the demo stays untouched). 3 annotators do 1,000 judgements each over the
same API; prints judgements/s (target >= 70) and p95.

The client runs on the same two cores as the server and PostgreSQL: its CPU counts against the
figures. The machine is shared: the load average is printed with each level; rerun when it was
high. The database is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable

# Responses of realistic length and shape: paragraphs, a list, and (every fourth item) a code block.
PROSE = (
    "Here is a careful answer to question {n}. The short version is that it depends on the constraints, "
    "so let us go through them one at a time and see which ones matter for your case.\n\n"
    "1. **Correctness** comes first: check the edge cases, including empty input and very large values.\n"
    "2. *Performance* matters once the data no longer fits in memory; measure before optimising.\n"
    "3. Readability: the next person to read this code is probably you, six months from now.\n\n"
    "> Premature optimisation is the root of all evil (or at least most of it) in programming.\n\n"
    "In summary, start simple, write a test for the behaviour you want, and only then make it fast. "
    "See [the documentation](https://docs.python.org/3/) for details on the standard library. "
)
CODE = (
    "\n```python\ndef solve_{n}(items):\n    seen = set()\n    for item in items:\n"
    "        if item in seen:\n            return item\n        seen.add(item)\n    return None\n```\n"
)


def text_for(n: int, variant: int) -> str:
    body = PROSE.format(n=n) + ("A slightly longer variant with one more sentence of detail. " * variant)
    return body + (CODE.format(n=n) if n % 4 == 0 else "")


# --- Simulated annotators -----------------------------------------------------------------------
@dataclass
class Level:
    """Samples of one concurrency level (only those started inside the measured window count)."""

    next_s: list[float] = field(default_factory=list)
    submit_s: list[float] = field(default_factory=list)
    created: int = 0
    judged: int = 0
    pairs: int = 0  # every next+submit, warm-up included: what the CPU figures are divided by
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    cpu: dict[str, float] = field(default_factory=dict)  # seconds used during the level, by whom


class Budget:
    def __init__(self, n: int) -> None:
        self.left = n
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            self.left -= 1
            return self.left >= 0


def _request(
    conn: http.client.HTTPConnection, method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, bytes]:
    for attempt in (1, 2):
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed an idle keep-alive connection: reconnect once (never mid-request
            # for a POST that reached the server: a closed idle socket fails on send).
            conn.close()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def annotator(
    port: int,
    key: str,
    stream_id: int,
    level: Level,
    budget: Budget,
    window: tuple[float, float],
    stop: threading.Event,
) -> None:
    start, end = window
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    auth = {"Authorization": f"Token {key}", "Accept": "application/json"}
    rng = random.Random(key)
    try:
        while not stop.is_set() and time.perf_counter() < end:
            measured = time.perf_counter() >= start
            if measured and not budget.take():
                break
            t0 = time.perf_counter()
            status, body = _request(conn, "GET", f"/api/streams/{stream_id}/next/", auth)
            t1 = time.perf_counter()
            if status == 204:
                break
            if status != 200:
                raise RuntimeError(f"next: {status} {body[:200]!r}")
            item = json.loads(body)
            choice = rng.choice(["A", "A", "B", "B", "tie", "both_bad"])
            answer = {
                "choice": choice,
                "strength": rng.randint(1, 3),
                "rationale": "",
                "flags": [],
                "active_seconds": 4.2,
            }
            headers = {**auth, "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
            status, body = _request(
                conn, "POST", f"/api/assignments/{item['assignment']}/judgement/", headers, json.dumps(answer).encode()
            )
            t2 = time.perf_counter()
            if status not in (200, 201):
                raise RuntimeError(f"judgement: {status} {body[:200]!r}")
            with level.lock:
                level.pairs += 1
            if measured and t2 <= end:
                with level.lock:
                    level.next_s.append(t1 - t0)
                    level.submit_s.append(t2 - t1)
                    level.judged += 1
                    level.created += status == 201
    except Exception as exc:
        with level.lock:
            level.errors.append(repr(exc))
    finally:
        conn.close()


def run_level(
    *,
    port: int,
    keys: list[str],
    stream_id: int,
    seconds: float,
    warmup: float,
    judgements: int,
    cpu: CpuMeter | None = None,
) -> tuple[Level, float]:
    level = Level()
    before = cpu.sample() if cpu else {}
    budget = Budget(judgements)
    stop = threading.Event()
    start = time.perf_counter() + warmup
    window = (start, start + seconds)
    threads = [
        threading.Thread(target=annotator, args=(port, key, stream_id, level, budget, window, stop), daemon=True)
        for key in keys
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + warmup + 60)
    stop.set()
    elapsed = min(time.perf_counter(), window[1]) - start
    if cpu:
        level.cpu = cpu.since(before)
    return level, elapsed


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def report(label: str, level: Level, elapsed: float) -> float:
    rate = level.judged / elapsed if elapsed > 0 else 0.0
    print(
        f"{label}: {level.judged:,} judgements in {elapsed:.1f} s = {rate:,.0f} judgements/s; "
        f"errors: {len(level.errors)}"
    )
    both = [a + b for a, b in zip(level.next_s, level.submit_s, strict=True)]
    for name, values in (("next", level.next_s), ("submit", level.submit_s), ("next+submit", both)):
        print(
            f"    {name:<12} p50 {_pct(values, 0.50):6.1f} ms   p95 {_pct(values, 0.95):6.1f} ms   "
            f"p99 {_pct(values, 0.99):6.1f} ms"
        )
    if level.cpu and level.pairs:
        per = {who: seconds * 1000 / level.pairs for who, seconds in level.cpu.items()}
        total = sum(per.values())
        parts = ", ".join(f"{who} {ms:.1f}" for who, ms in per.items())
        print(
            f"    CPU per next+submit: {parts}; total {total:.1f} ms "
            f"(= at most {(os.cpu_count() or 1) * 1000 / total:,.0f} judgements/s on this machine when idle)"
        )
    for error in level.errors[:3]:
        print(f"    error: {error}")
    return rate


def uptime() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


# --- CPU accounting -----------------------------------------------------------------------------
class CpuMeter:
    """CPU seconds (user + system, from Linux's /proc) used by the server's processes, the
    PostgreSQL backends serving the benchmark's database, and this client: figures that hold on a
    machine busy with other work, where judgements/s and latencies do not."""

    def __init__(self, server_pid: int, database: str | None = None, admin_url: str | None = None) -> None:
        self.server_pid = server_pid
        self.database = database
        self.admin_url = admin_url
        self.tick = os.sysconf("SC_CLK_TCK")

    def _stat(self, pid: int) -> float:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        # utime, stime, and the same for children already waited for (fields 14-17 of proc(5)).
        return sum(int(value) for value in fields[11:15]) / self.tick

    def _tree(self, pid: int) -> list[int]:
        pids = [pid]
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                children = [int(child) for child in f.read().split()]
        except OSError:
            children = []
        for child in children:
            pids.extend(self._tree(child))
        return pids

    def _backends(self) -> list[int]:
        if not self.database or not self.admin_url:
            return []
        import psycopg

        with psycopg.connect(f"{self.admin_url}/postgres", autocommit=True) as admin:
            rows = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.database]).fetchall()
        return [int(pid) for (pid,) in rows]

    def sample(self) -> dict[str, dict[int, float]]:
        return {
            "server": {pid: self._stat(pid) for pid in self._tree(self.server_pid)},
            "PostgreSQL": {pid: self._stat(pid) for pid in self._backends()},
            "client": {0: time.process_time()},
        }

    def since(self, before: dict[str, dict[int, float]]) -> dict[str, float]:
        after = self.sample()
        used = {}
        for who, now in after.items():
            if who == "PostgreSQL" and not now:
                continue
            # A process started during the level counts from zero.
            used[who] = sum(seconds - before.get(who, {}).get(pid, 0.0) for pid, seconds in now.items())
        return used


# --- Servers ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"FAIL: the server exited with {process.returncode}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/api/projects/")  # 401 without a token: Django answers, nothing else runs
            status = conn.getresponse().status
            if status == 401:
                return
            raise SystemExit(f"FAIL: the server answered {status} where 401 was expected")
        except OSError:
            time.sleep(0.2)
        finally:
            conn.close()
    raise SystemExit("FAIL: the server did not answer")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    # The server runs in its own session (process group) started here: end that group only.
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- PostgreSQL ---------------------------------------------------------------------------------
def production_like_env(url: str) -> dict[str, str]:
    """The servers' environment: the production settings' code paths (DEBUG off, persistent
    connections, a fresh secret) on ``url``, without Redis (tasks run inline)."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "QUORUM_ENV": "development",  # production would also require Redis; the rest below is production-like
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "warning",
        "DB_CONN_MAX_AGE": "600",
        "DJANGO_SETTINGS_MODULE": "quorum.settings",
    }
    for name in ("REDIS_URL", "CELERY_TASK_ALWAYS_EAGER"):
        env.pop(name, None)
    return env


def postgres_main(args: argparse.Namespace) -> int:
    import psycopg

    admin_url, db_name = args.url.rsplit("/", 1)
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{db_name}"')
    env = production_like_env(args.url)
    os.environ.update(env)
    levels = [int(n) for n in args.annotators.split(",")]
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    server = None
    try:
        call_command("migrate", verbosity=0)
        stream_id, keys = populate_postgres(args.items, max(levels))
        connections.close_all()
        configs = [(4, 2), (2, 4), (3, 3), (8, 1)] if args.compare else [(args.workers, args.threads)]
        for workers, threads in configs:
            port = free_port()
            server = start_gunicorn(env, port, workers, threads)
            print(f"\ngunicorn -k gthread -w {workers} --threads {threads} on 127.0.0.1:{port}")
            cpu = CpuMeter(server.pid, db_name, admin_url)
            for n in levels if not args.compare else [32]:
                before = uptime()
                level, elapsed = run_level(
                    port=port,
                    keys=keys[:n],
                    stream_id=stream_id,
                    seconds=args.seconds,
                    warmup=args.warmup,
                    judgements=args.judgements,
                    cpu=cpu,
                )
                report(f"\n{n:>3} annotators [{before}; after: {uptime()}]", level, elapsed)
            stop_server(server)
            server = None
        return check_postgres(stream_id)
    finally:
        if server is not None:
            stop_server(server)
        connection.close()
        if not args.keep:
            with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def start_gunicorn(env: dict[str, str], port: int, workers: int, threads: int) -> subprocess.Popen[bytes]:
    command = [
        str(Path(PYTHON).with_name("gunicorn")), "quorum.wsgi:application", "--bind", f"127.0.0.1:{port}",
        "--worker-class", "gthread", "--workers", str(workers), "--threads", str(threads),
        "--keep-alive", "75", "--backlog", "2048", "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        wait_ready(port, process)
    except BaseException:
        stop_server(process)
        raise
    return process


def populate_postgres(n_items: int, n_people: int) -> tuple[int, list[str]]:
    from django.contrib.auth.models import User
    from django.db import connection

    from projects.models import ApiToken, Membership, Project, Role, Stream, StreamMembership

    started = time.perf_counter()
    project = Project.objects.create(slug="bench", name="Bench")
    stream = Stream.objects.create(project=project, slug="s", name="Bench stream", status="active", overlap=3)
    keys = []
    for i in range(n_people):
        user = User.objects.create(username=f"annotator{i}")
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
        StreamMembership.objects.create(stream=stream, user=user, status="qualified")
        keys.append(ApiToken.generate(user=user, name="bench")[1])
    prose = PROSE.replace("{n}", "' || g || '")
    code = CODE.replace("{n}", "' || g || '")
    extra = "A slightly longer variant with one more sentence of detail. "
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO annotation_item (
                stream_id, external_id, pool, context, responses, num_responses, metadata, prior_label,
                content_hash, is_golden, golden_answers, golden_explanation, golden_harmful, priority,
                judgement_count, claim_count, is_open, import_batch_id, created_at, updated_at)
            SELECT %(stream)s, 'item-' || g, 'work',
                   jsonb_build_array(jsonb_build_object('role', 'user', 'content',
                       'Question ' || g || ': how should I find the first repeated element of a list?')),
                   jsonb_build_array(
                       jsonb_build_object('text', '{prose}'
                           || CASE WHEN g %% 4 = 0 THEN '{code}' ELSE '' END, 'model', 'a'),
                       jsonb_build_object('text', '{prose}' || repeat(%(extra)s, 1 + g %% 3)
                           || CASE WHEN g %% 4 = 0 THEN '{code}' ELSE '' END, 'model', 'b')),
                   2, '{{}}'::jsonb, NULL, md5(g::text), false, '[]'::jsonb, '', false,
                   0, 0, 0, true, NULL, now(), now()
            FROM generate_series(1, %(n)s) AS g
            """,
            {"stream": stream.pk, "n": n_items, "extra": extra},
        )
        cursor.execute("ANALYZE")
        cursor.execute("SELECT avg(length(responses::text))::int FROM annotation_item")
        (avg_len,) = cursor.fetchone()
    print(
        f"items: {n_items:,} (overlap 3, responses ~{avg_len} bytes per item), {n_people} annotators with "
        f"tokens, in {time.perf_counter() - started:.1f} s"
    )
    return stream.pk, keys


def check_postgres(stream_id: int) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT
              (SELECT count(*) FROM (
                  SELECT a.item_id FROM annotation_assignment a
                  WHERE a.stream_id = %(s)s AND a.status IN ('active', 'submitted')
                  GROUP BY a.item_id HAVING count(DISTINCT a.annotator_id) > 3) over_assigned),
              (SELECT count(*) FROM (
                  SELECT j.item_id FROM annotation_judgement j WHERE j.stream_id = %(s)s AND j.counted
                  GROUP BY j.item_id HAVING count(DISTINCT j.annotator_id) > 3) over_judged),
              (SELECT count(*) FROM annotation_item WHERE stream_id = %(s)s AND claim_count > 3),
              (SELECT count(*) FROM annotation_judgement WHERE stream_id = %(s)s),
              (SELECT count(*) FROM annotation_item i WHERE i.stream_id = %(s)s AND i.claim_count <>
                  (SELECT count(*) FROM annotation_assignment a WHERE a.item_id = i.id AND a.status = 'active')
                  + (SELECT count(*) FROM annotation_judgement j WHERE j.item_id = i.id AND j.counted))
            """,
            {"s": stream_id},
        )
        over_assigned, over_judged, over_claimed, stored, drift = cursor.fetchone()
    violations = over_assigned + over_judged + over_claimed
    print(
        f"\noverlap violations (SQL): {violations} (assigned {over_assigned}, judged {over_judged}, "
        f"claim counter {over_claimed}); "
        f"counter drift: {drift}; judgements stored: {stored:,}"
    )
    return 1 if violations or drift else 0


# --- SQLite: the `make run` setup ---------------------------------------------------------------
def sqlite_main(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="quorum-bench-sqlite-"))
    env = dict(os.environ)
    # As the Makefile's EMBEDDED: nothing from a deployment's configuration leaks in.
    for name in (
        "QUORUM_ENV", "DEBUG", "DATABASE_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER", "ALLOWED_HOSTS",
        "SECURE_SSL_REDIRECT", "EMAIL_HOST", "NUM_PROXIES", "TRUST_X_FORWARDED_PROTO", "DJANGO_SETTINGS_MODULE",
    ):  # fmt: skip
        env.pop(name, None)
    env["DATABASE_URL"] = f"sqlite:///{workdir / 'quorum.sqlite3'}"
    env["DJANGO_SETTINGS_MODULE"] = "quorum.settings"
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    server = None
    try:
        call_command("migrate", verbosity=0)
        stream_id, keys = populate_sqlite(args.sqlite_items, 3)
        connections.close_all()
        port = free_port()
        server = subprocess.Popen(
            [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_ready(port, server)
        except BaseException:
            stop_server(server)
            server = None
            raise
        print(f"manage.py runserver 127.0.0.1:{port} (DEBUG on, SQLite, eager Celery)")
        before = uptime()
        level, elapsed = run_level(
            port=port,
            keys=keys,
            stream_id=stream_id,
            seconds=600,
            warmup=0,
            judgements=3 * args.sqlite_judgements,
            cpu=CpuMeter(server.pid),
        )
        rate = report(f"\n  3 annotators x {args.sqlite_judgements:,} [{before}; after: {uptime()}]", level, elapsed)
        print(f"target >= 70 judgements/s: {'met' if rate >= 70 else 'NOT met'}")
        return 1 if level.errors else 0
    finally:
        if server is not None:
            stop_server(server)
        shutil.rmtree(workdir, ignore_errors=True)


def populate_sqlite(n_items: int, n_people: int) -> tuple[int, list[str]]:
    import hashlib

    from django.contrib.auth.models import User

    from annotation.models import Item
    from projects.models import ApiToken, Membership, Project, Role, Stream, StreamMembership

    project = Project.objects.create(slug="bench", name="Bench")
    stream = Stream.objects.create(project=project, slug="s", name="Bench stream", status="active", overlap=3)
    keys = []
    for i in range(n_people):
        user = User.objects.create(username=f"annotator{i}")
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
        StreamMembership.objects.create(stream=stream, user=user, status="qualified")
        keys.append(ApiToken.generate(user=user, name="bench")[1])
    Item.objects.bulk_create(
        [
            Item(
                stream=stream,
                external_id=f"item-{n}",
                context=[{"role": "user", "content": f"Question {n}: how should I find the first repeated element?"}],
                responses=[{"text": text_for(n, 0), "model": "a"}, {"text": text_for(n, 1 + n % 3), "model": "b"}],
                num_responses=2,
                content_hash=hashlib.sha256(str(n).encode()).hexdigest(),
            )
            for n in range(1, n_items + 1)
        ],
        batch_size=500,
    )
    print(f"items: {n_items:,} (overlap 3), 3 annotators with tokens")
    return stream.pk, keys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="postgres://postgres@127.0.0.1:5432/quorum_bench_http")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--annotators", default="8,32,128", help="comma-separated concurrency levels")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per level")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each level")
    parser.add_argument("--judgements", type=int, default=20_000, help="at most this many judgements per level")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compare", action="store_true", help="compare gunicorn configurations at 32 annotators")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--sqlite", action="store_true", help="the `make run` setup: runserver + SQLite")
    parser.add_argument("--sqlite-items", type=int, default=2_000)
    parser.add_argument("--sqlite-judgements", type=int, default=1_000, help="per annotator")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {uptime()}")
    return sqlite_main(args) if args.sqlite else postgres_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
