"""More than one web node (issue 17, part 4): two gunicorn instances on one PostgreSQL database,
annotators spread over both through the API (next + judgement with an ``Idempotency-Key``), and
one node killed (SIGKILL to its whole process group: a crashed host) and started again while they
work. A client whose request fails on a dead node does what a load balancer's retry does: the same
request, the same key, on the other node. Then two ``manage.py run_periodic --once`` runners, one
per node, start at the same moment: every due periodic job (lease expiry, QC, export sweep...) must
run once, not once per node.

Prints, and exits non-zero when any is not 0:
- overlap violations and counter drift (``http_annotators.check_postgres``: assignments, counted
  judgements and the claim counter per item against the overlap);
- lost judgements: acknowledged (200/201) answers without their stored row (the key the server
  derives from the client's ``Idempotency-Key``), and answers stored twice;
- periodic jobs run more than once by the two runners.

    .venv/bin/python bench/multinode.py [--annotators 24] [--seconds 20] [--kill-at 6] [--down 3]

Needs PostgreSQL (``--url``, default postgres://postgres@127.0.0.1:5432/quorum_bench_multinode,
created and dropped). The nodes run the production settings' code paths (DEBUG off, persistent
connections) without Redis: the periodic runners are the embedded mode's, whose claim on each
job's row is what keeps two of them from running it twice (with Celery, ``celery beat`` runs once
per deployment and the tasks are idempotent; docs/production.md).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from http_annotators import (  # the sibling bench script, found through sys.path
    PYTHON,
    ROOT,
    check_postgres,
    free_port,
    populate_postgres,
    production_like_env,
    start_gunicorn,
    stop_server,
)


@dataclass
class Node:
    port: int
    process: subprocess.Popen[bytes] | None = None
    up: bool = True


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: list[tuple[int, str]] = field(default_factory=list)  # (assignment, client key)
    created: int = 0
    replayed: int = 0  # the retry of a request whose first answer was lost: "already stored"
    failovers: int = 0
    errors: list[str] = field(default_factory=list)


def _call(
    nodes: list[Node], prefer: int, method: str, path: str, headers: dict[str, str], body: bytes | None, tally: Tally
) -> tuple[int, bytes]:
    """The request on the preferred node, else (connection refused or reset) the same request on
    the other ones, as a load balancer that retries on another backend."""
    order = [prefer, *[i for i in range(len(nodes)) if i != prefer]]
    last: Exception | None = None
    for attempt, index in enumerate(order * 3):  # a few rounds: a restarting node comes back
        conn = http.client.HTTPConnection("127.0.0.1", nodes[index].port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            if attempt:
                with tally.lock:
                    tally.failovers += 1
            return response.status, response.read()
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            last = exc
            time.sleep(0.05 * (attempt + 1))
        finally:
            conn.close()
    raise RuntimeError(f"{method} {path}: every node failed: {last!r}")


def annotator(key: str, stream_id: int, nodes: list[Node], tally: Tally, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    auth = {"Authorization": f"Token {key}", "Accept": "application/json"}
    try:
        while not stop.is_set():
            prefer = rng.randrange(len(nodes))
            status, body = _call(nodes, prefer, "GET", f"/api/streams/{stream_id}/next/", auth, None, tally)
            if status == 204:
                return
            if status != 200:
                raise RuntimeError(f"next: {status} {body[:200]!r}")
            assignment = json.loads(body)["assignment"]
            client_key = uuid.uuid4().hex
            choice = rng.choice(["A", "B", "tie"])
            answer = {"choice": choice, "rationale": "", "flags": [], "active_seconds": 3.0}
            if choice != "tie":
                answer["strength"] = rng.randint(1, 3)
            headers = {**auth, "Content-Type": "application/json", "Idempotency-Key": client_key}
            status, body = _call(
                nodes,
                rng.randrange(len(nodes)),
                "POST",
                f"/api/assignments/{assignment}/judgement/",
                headers,
                json.dumps(answer).encode(),
                tally,
            )
            if status not in (200, 201):
                raise RuntimeError(f"judgement: {status} {body[:200]!r}")
            with tally.lock:
                tally.acknowledged.append((assignment, client_key))
                tally.created += status == 201
                tally.replayed += status == 200
            time.sleep(rng.uniform(0.0, 0.05))
    except Exception as exc:
        with tally.lock:
            tally.errors.append(repr(exc))


def stored_key(assignment: int, client_key: str) -> str:
    """``annotation.api._idempotency_key``: the client's key bound to the assignment."""
    return hashlib.sha256(f"{assignment}:client:{client_key}".encode()).hexdigest()


def check_judgements(tally: Tally) -> int:
    from django.db import connection

    keys = [stored_key(a, k) for a, k in tally.acknowledged]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM unnest(%s::text[]) AS k(key) "
            "WHERE NOT EXISTS (SELECT 1 FROM annotation_judgement j WHERE j.idempotency_key = k.key)",
            [keys],
        )
        (lost,) = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM (SELECT assignment_id FROM annotation_judgement WHERE is_current "
            "GROUP BY assignment_id HAVING count(*) > 1) twice"
        )
        (twice,) = cursor.fetchone()
    print(f"acknowledged answers: {len(keys):,}; lost: {lost}; stored twice: {twice}")
    return 1 if lost or twice else 0


def periodic_once_per_job(env: dict[str, str]) -> int:
    """Two runners (one per node) at the same moment: each due job must run exactly once."""
    from django.db.models import Sum

    from qc.models import PeriodicJob

    before = dict(PeriodicJob.objects.values_list("name", "runs"))
    command = [PYTHON, "manage.py", "run_periodic", "--once"]
    runners = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL) for _ in range(2)]
    codes = [runner.wait(timeout=600) for runner in runners]
    after = dict(PeriodicJob.objects.values_list("name", "runs"))
    ran = {name: runs - before.get(name, 0) for name, runs in after.items()}
    twice = sorted(name for name, n in ran.items() if n > 1)
    total = PeriodicJob.objects.aggregate(n=Sum("runs"))["n"] or 0
    print(
        f"periodic jobs, two runners at once (exit codes {codes}): {len(ran)} jobs, runs this round "
        f"{sum(ran.values())} (each job once: {not twice}{'; twice: ' + ', '.join(twice) if twice else ''}); "
        f"runs recorded in all {total}"
    )
    return 1 if twice or any(codes) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgres://postgres@127.0.0.1:5432/quorum_bench_multinode")
    parser.add_argument("--items", type=int, default=4000)
    parser.add_argument("--annotators", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--kill-at", type=float, default=6.0, help="Seconds into the run when node 1 is killed.")
    parser.add_argument("--down", type=float, default=3.0, help="Seconds node 1 stays down.")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per node.")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    import psycopg

    admin_url, db_name = args.url.rsplit("/", 1)
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{db_name}"')
    env = production_like_env(args.url)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    nodes = [Node(free_port()), Node(free_port())]
    try:
        call_command("migrate", verbosity=0)
        stream_id, keys = populate_postgres(args.items, args.annotators)
        connections.close_all()
        for node in nodes:
            node.process = start_gunicorn(env, node.port, args.workers, 2)
        print(f"two nodes: gunicorn -w {args.workers} --threads 2 on ports {nodes[0].port} and {nodes[1].port}")
        tally, stop = Tally(), threading.Event()
        threads = [
            threading.Thread(target=annotator, args=(key, stream_id, nodes, tally, stop, n), daemon=True)
            for n, key in enumerate(keys)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        time.sleep(args.kill_at)
        victim = nodes[1]
        assert victim.process is not None
        at_kill = len(tally.acknowledged)
        os.killpg(victim.process.pid, signal.SIGKILL)  # the host dies: master and workers at once
        victim.process.wait()
        print(f"node 2 killed (SIGKILL) at {time.perf_counter() - started:.1f} s, {at_kill:,} answers in")
        time.sleep(args.down)
        victim.process = start_gunicorn(env, victim.port, args.workers, 2)
        print(f"node 2 back at {time.perf_counter() - started:.1f} s, {len(tally.acknowledged):,} answers in")
        time.sleep(max(0.0, args.seconds - (time.perf_counter() - started)))
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        elapsed = time.perf_counter() - started
        print(
            f"{len(tally.acknowledged):,} answers in {elapsed:.1f} s ({len(tally.acknowledged) / elapsed:.0f}/s) by "
            f"{len(keys)} annotators; created {tally.created:,}, replayed as already stored {tally.replayed}, "
            f"requests retried on the other node {tally.failovers}; client errors {len(tally.errors)}"
        )
        for error in tally.errors[:5]:
            print(f"  error: {error}")
        failed = check_postgres(stream_id)
        failed |= check_judgements(tally)
        failed |= periodic_once_per_job(env)
        failed |= 1 if tally.errors else 0
        print("multinode: OK" if not failed else "multinode: FAILED")
        return failed
    finally:
        for node in nodes:
            if node.process is not None:
                stop_server(node.process)
        connection.close()
        if not args.keep:
            with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


if __name__ == "__main__":
    raise SystemExit(main())
