"""QC recompute benchmark: one stream with 100,000 judgements (33,334 items × overlap 3, 60
annotators, 5% golden items, rubric ratings on two attributes, random display order, skips and
reviews) in a throwaway PostgreSQL database → one full ``qc.services.compute_stream_metrics``
(both windows, every figure, snapshots written). Prints the seconds it took.

    .venv/bin/python bench/qc_recompute.py [--items 33334] [--overlap 3] [--annotators 60] [--keep]

Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/); creates and
drops the database ``quorum_bench_qc``. Targets: ≤ 5 s for 100,000 judgements (issue 5); ≤ 30 s and
≤ 1 GB peak RSS for 1,000,000 (``--items 333334``; issue 11: the periodic recompute runs every
minute for streams with new work).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "quorum_bench_qc"


def _insert_select(model: Any, exprs: dict[str, str], source: str) -> int:
    """INSERT INTO model SELECT ...: columns not in ``exprs`` get their field's Python default."""
    from django.db import connection

    columns, values, args = [], [], []
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(connection.ops.quote_name(f.column))
        if f.column in exprs:
            values.append(exprs[f.column])
        else:
            values.append("%s")
            args.append(f.get_db_prep_save(f.get_default(), connection))
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} {source}"
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        return cursor.rowcount


def generate(items: int, overlap: int, annotators: int) -> tuple[int, int]:
    from django.contrib.auth.models import User
    from django.db import connection

    from annotation.models import Assignment, Item, Judgement
    from projects.models import Project, Stream
    from qc.models import Review

    project = Project.objects.create(slug="bench", name="Bench")
    stream = Stream.objects.create(
        project=project, slug="bench", name="Bench", overlap=overlap, rubric=["helpfulness", "correctness"]
    )
    User.objects.bulk_create([User(username=f"annotator{n}") for n in range(annotators + 1)])
    first_user = User.objects.order_by("id").values_list("id", flat=True).first()
    reviewer = first_user + annotators  # type: ignore[operator]
    answer = "A reasonably detailed answer that discusses several considerations in turn. "
    _insert_select(
        Item,
        {
            "stream_id": str(stream.pk),
            "external_id": "'item-' || g",
            "context": "jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Question ' || g || '?'))",
            # Lengths vary 1–6 sentences per response, so about half the pairs differ clearly.
            "responses": f"""jsonb_build_array(
                jsonb_build_object('text', repeat('{answer}', 1 + mod(g, 6)), 'model', 'a', 'metadata', '{{}}'::jsonb),
                jsonb_build_object('text', repeat('{answer}', 1 + mod(g / 6, 6)), 'model', 'b',
                                   'metadata', '{{}}'::jsonb))""",
            "num_responses": "2",
            "content_hash": "md5(g::text)",
            "is_golden": "mod(g, 20) = 0",
            "golden_answers": "CASE WHEN mod(g, 20) = 0 THEN '[\"A\"]'::jsonb ELSE '[]'::jsonb END",
            "golden_harmful": "mod(g, 100) = 0",
            "judgement_count": str(overlap),
            "claim_count": str(overlap),
        },
        f"FROM generate_series(1, {items}) AS g",
    )
    pairs = f"""FROM {Item._meta.db_table} i CROSS JOIN generate_series(0, {overlap - 1}) AS k
                WHERE i.stream_id = {stream.pk}"""
    _insert_select(
        Assignment,
        {
            "item_id": "i.id",
            "stream_id": str(stream.pk),
            "annotator_id": f"{first_user} + mod(i.id * {overlap} + k, {annotators})",
            "status": "'submitted'",
            "display_order": "CASE WHEN random() < 0.5 THEN '[0, 1]'::jsonb ELSE '[1, 0]'::jsonb END",
            "served_at": "now() - (random() * interval '20 days')",
            "lease_expires_at": "now()",
            "finished_at": "now()",
        },
        pairs,
    )
    judgements = _insert_select(
        Judgement,
        {
            "assignment_id": "a.id",
            "item_id": "a.item_id",
            "stream_id": "a.stream_id",
            "annotator_id": "a.annotator_id",
            "choice": "a.choice",
            "strength": "CASE WHEN a.choice IN ('A', 'B') THEN 1 + mod(a.id, 3) END",
            "rubric": """jsonb_build_object(
                'helpfulness', jsonb_build_array(mod(a.id, 5), mod(a.id / 5, 5)),
                'correctness', jsonb_build_array(mod(a.id / 3, 5), mod(a.id / 7, 5)))""",
            "flag_harmful": "random() < 0.03",
            "display_order": "a.display_order",
            "served_at": "a.served_at",
            "submitted_at": "a.served_at + interval '1 minute'",
            "active_seconds": "5 + random() * 60",
            "idempotency_key": "'bench-' || a.id",
        },
        f"""FROM (SELECT *, CASE WHEN random() < 0.05 THEN 'tie'
                   WHEN (random() < 0.8) = (mod(abs(hashtext(item_id::text)), 10) < 7) THEN 'A' ELSE 'B' END AS choice
                 FROM {Assignment._meta.db_table} WHERE stream_id = {stream.pk}) a""",
    )
    _insert_select(
        Review,
        {
            "judgement_id": "j.id",
            "reviewer_id": str(reviewer),
            "decision": "CASE WHEN mod(j.id, 4) = 0 THEN 'reject' ELSE 'accept' END",
            "reason": "CASE WHEN mod(j.id, 4) = 0 THEN 'wrong' ELSE '' END",
            "created_at": "now()",
        },
        f"FROM {Judgement._meta.db_table} j WHERE mod(j.id, 20) = 0",
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return stream.pk, judgements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=33_334)
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--annotators", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3, help="Full recomputes to time (the best and all are shown).")
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    args = parser.parse_args()

    import psycopg

    base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
    with psycopg.connect(base + "postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
        admin.execute(f"CREATE DATABASE {DB_NAME}")
    os.environ["DATABASE_URL"] = base + DB_NAME
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
    os.environ.setdefault("LOG_LEVEL", "warning")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    try:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        stream_id, judgements = generate(args.items, args.overlap, args.annotators)
        generated = time.perf_counter() - started

        from projects.models import Stream
        from qc.models import MetricSnapshot
        from qc.services import compute_stream_metrics

        stream = Stream.objects.get(pk=stream_id)
        timings = []
        for _ in range(args.runs):
            started = time.perf_counter()
            result = compute_stream_metrics(stream=stream)
            timings.append(time.perf_counter() - started)
        # The periodic task then runs the stream's QC rules on the fresh figures (qc.rules), for
        # the annotators who are members of the stream (qualified).
        from projects.models import StreamMembership
        from qc import rules

        StreamMembership.objects.bulk_create(
            [StreamMembership(stream=stream, user_id=user_id, status="qualified") for user_id in result.annotator_ids],
            ignore_conflicts=True,
        )

        started = time.perf_counter()
        alerts = rules.apply_rules(stream=stream, result=result)
        rules_seconds = time.perf_counter() - started
        snapshots = MetricSnapshot.objects.filter(stream=stream, computed_at=result.computed_at).count()
        alpha = result.windows["all"].stream["alpha_nominal"]
        print(f"cpus {os.cpu_count()}")
        print(f"generation {generated:.1f} s")
        print(f"judgements {judgements}")
        print(f"annotators {len(result.annotator_ids)}")
        print(f"snapshots_per_run {snapshots}")
        print(f"alpha_nominal {alpha.value} (n={alpha.sample_size})")
        print(f"compute_runs {' '.join(f'{t:.2f}' for t in timings)} s")
        target = "≤ 5 s at 100k" if judgements <= 200_000 else "≤ 30 s and ≤ 1 GB at 1M"
        print(f"compute_stream_metrics {min(timings):.2f} s (target {target})")
        print(f"qc_rules {rules_seconds:.2f} s ({len(alerts)} alerts)")
        print(f"peak_rss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    finally:
        connections.close_all()
        if not args.keep:
            with psycopg.connect(base + "postgres", autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")


if __name__ == "__main__":
    main()
