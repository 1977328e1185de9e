"""Benchmark of the assignment engine on PostgreSQL at 1,000,000 items.

    .venv/bin/python bench/assignment.py [--items 1000000] [--annotators 8,32] [--rounds 150]

Creates a throwaway database (``quorum_bench_assignment`` on 127.0.0.1:5432, or ``--url``),
migrates it, generates the items with one ``INSERT ... SELECT FROM generate_series`` (60% of them
already complete, so the claim has to skip finished work), then prints:

1. ``EXPLAIN (ANALYZE, BUFFERS)`` of the claim statement, depth-first and breadth-first (run in a
   transaction that is rolled back), and fails if items are read with a sequential scan;
2. next + submit latency (p50/p95/p99) and judgements per second with several concurrent
   annotators, each a process with its own connection, each doing a bounded number of rounds;
3. an overlap check over the whole stream (must be 0 violations).

The database is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="postgres://postgres@127.0.0.1:5432/quorum_bench_assignment")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--complete", type=float, default=0.6, help="share of items already complete")
    parser.add_argument("--annotators", default="8,32", help="comma-separated concurrency levels")
    parser.add_argument("--rounds", type=int, default=150, help="next+submit rounds per annotator")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--async-commit",
        action="store_true",
        help="synchronous_commit=off for the bench's sessions: measures the engine without the disk's fsync",
    )
    args = parser.parse_args()

    import psycopg

    admin_url, db_name = args.url.rsplit("/", 1)
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
        admin.execute(f'CREATE DATABASE "{db_name}"')

    os.environ["DATABASE_URL"] = args.url + ("?options=-c%20synchronous_commit%3Doff" if args.async_commit else "")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
    os.environ.setdefault("LOG_LEVEL", "warning")
    import django

    django.setup()
    from django.core.management import call_command

    try:
        call_command("migrate", verbosity=0)
        stream, people = _populate(args.items, args.complete, max(int(n) for n in args.annotators.split(",")))
        _explain(stream)
        for level in (int(n) for n in args.annotators.split(",")):
            _run(stream, people[:level], args.rounds)
        print("\nAfter the runs (assignments and judgements in place):")
        _explain(stream, orders=("depth",))
        return _check_overlap(stream)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def _populate(n_items: int, complete: float, n_people: int) -> tuple[Any, list[Any]]:
    from django.contrib.auth.models import User
    from django.db import connection

    from projects.models import Membership, Project, Role, Stream, StreamMembership

    project = Project.objects.create(slug="bench", name="Bench")
    stream = Stream.objects.create(project=project, slug="s", name="Bench stream", status="active", overlap=3)
    people = []
    for i in range(n_people):
        user = User.objects.create(username=f"annotator{i}")
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
        StreamMembership.objects.create(stream=stream, user=user, status="qualified")
        people.append(user)

    started = time.perf_counter()
    done = int(n_items * complete)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO annotation_item (
                stream_id, external_id, pool, context, responses, num_responses, metadata, prior_label,
                content_hash, is_golden, golden_answers, golden_explanation, golden_harmful, priority,
                judgement_count, claim_count, is_open, import_batch_id, created_at, updated_at)
            SELECT %(stream)s, 'item-' || g, 'work',
                   jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Question ' || g || '?')),
                   jsonb_build_array(jsonb_build_object('text', 'Answer one to ' || g, 'model', 'a'),
                                     jsonb_build_object('text', 'Answer two to ' || g, 'model', 'b')),
                   2, '{}'::jsonb, NULL, md5(g::text), false, '[]'::jsonb, '', false,
                   g %% 4,
                   CASE WHEN g <= %(done)s THEN 3 ELSE 0 END,
                   CASE WHEN g <= %(done)s THEN 3 ELSE 0 END,
                   g > %(done)s, NULL, now(), now()
            FROM generate_series(1, %(n)s) AS g
            """,
            {"stream": stream.pk, "n": n_items, "done": done},
        )
        cursor.execute("ANALYZE annotation_item")
        cursor.execute("ANALYZE annotation_assignment")
        cursor.execute("ANALYZE annotation_judgement")
    print(f"items: {n_items:,} generated in {time.perf_counter() - started:.1f} s ({done:,} already complete)")
    return stream, people


def _explain(stream: Any, orders: tuple[str, ...] = ("depth", "breadth")) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from annotation.services import claim_sql, target_params
    from projects.models import Stream

    for order in orders:
        stream.order = order
        with transaction.atomic(), connection.cursor() as cursor:
            now = timezone.now()
            cursor.execute(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + claim_sql(stream),
                {**target_params(stream), "stream": stream.pk, "annotator": 1, "now": now, "expires": now},
            )
            plan = "\n".join(row[0] for row in cursor.fetchall())
            transaction.set_rollback(True)
        print(f"\n--- EXPLAIN ANALYZE: claim, {order}-first ---\n{plan}")
        if "Seq Scan on annotation_item" in plan:
            raise SystemExit("FAIL: the claim reads annotation_item with a sequential scan")
    stream.order = Stream.Order.DEPTH_FIRST


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def _annotate(job: tuple[int, int, int, float]) -> tuple[list[float], list[float], str]:
    """One simulated annotator in its own process (own connection, no shared GIL): bounded rounds
    of next + submit. Returns the latencies of each."""
    user_id, stream_id, rounds, start_at = job
    from django.contrib.auth.models import User
    from django.db import connection

    from annotation import services
    from projects.models import Stream

    stream = Stream.objects.get(pk=stream_id)
    user = User.objects.get(pk=user_id)
    next_s: list[float] = []
    submit_s: list[float] = []
    time.sleep(max(0.0, start_at - time.time()))
    try:
        for _ in range(rounds):
            t0 = time.perf_counter()
            assignment = services.claim_next(stream=stream, annotator=user)
            t1 = time.perf_counter()
            if assignment is None:
                break
            key = services.idempotency_key(assignment_id=assignment.pk, token="bench")  # noqa: S106 — not a secret
            services.submit_judgement(assignment=assignment, idempotency_key=key, choice="A", strength=2)
            next_s.append(t1 - t0)
            submit_s.append(time.perf_counter() - t1)
    except Exception as exc:
        return next_s, submit_s, repr(exc)
    finally:
        connection.close()
    return next_s, submit_s, ""


def _run(stream: Any, people: list[Any], rounds: int) -> None:
    import multiprocessing

    from django.db import connections

    connections.close_all()  # never share a connection across fork
    start_at = time.time() + 1.0
    jobs = [(user.pk, stream.pk, rounds, start_at) for user in people]
    with multiprocessing.get_context("fork").Pool(len(people)) as pool:
        results = pool.map(_annotate, jobs)
    elapsed = time.time() - start_at
    next_ms = [v for r in results for v in r[0]]
    submit_ms = [v for r in results for v in r[1]]
    errors = [r[2] for r in results if r[2]]
    both = [a + b for a, b in zip(next_ms, submit_ms, strict=True)]
    print(
        f"\n{len(people):>3} annotators (processes) x {rounds} rounds: {len(both):,} judgements in {elapsed:.1f} s = "
        f"{len(both) / elapsed:,.0f} judgements/s; errors: {len(errors)}"
    )
    for name, values in (("next", next_ms), ("submit", submit_ms), ("next+submit", both)):
        print(
            f"    {name:<12} p50 {_pct(values, 0.50):6.1f} ms   p95 {_pct(values, 0.95):6.1f} ms   "
            f"p99 {_pct(values, 0.99):6.1f} ms   mean {statistics.fmean(values) * 1000:6.1f} ms"
        )
    if errors:
        raise SystemExit(f"FAIL: {errors[0]}")


def _check_overlap(stream: Any) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT
              (SELECT count(*) FROM annotation_item WHERE stream_id = %(s)s AND claim_count > %(o)s),
              (SELECT count(*) FROM (
                  SELECT j.item_id FROM annotation_judgement j WHERE j.stream_id = %(s)s AND j.counted
                  GROUP BY j.item_id HAVING count(*) > %(o)s) over_judged),
              (SELECT count(*) FROM (
                  SELECT 1 FROM annotation_judgement j WHERE j.stream_id = %(s)s
                  GROUP BY j.item_id, j.annotator_id HAVING count(*) > 1) repeated),
              (SELECT count(*) FROM annotation_item i WHERE i.stream_id = %(s)s AND i.judgement_count <>
                  (SELECT count(*) FROM annotation_judgement j WHERE j.item_id = i.id AND j.counted)
                  AND i.id IN (SELECT item_id FROM annotation_judgement))
            """,
            {"s": stream.pk, "o": stream.overlap},
        )
        over_claimed, over_judged, repeated, drift = cursor.fetchone()
    print(
        f"\noverlap violations: {over_claimed + over_judged} (claims {over_claimed}, judgements {over_judged}); "
        f"same item twice to one annotator: {repeated}; counter drift: {drift}"
    )
    return 1 if over_claimed or over_judged or repeated or drift else 0


if __name__ == "__main__":
    raise SystemExit(main())
