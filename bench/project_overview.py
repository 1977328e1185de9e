"""Program overview benchmark: the project page (issue 16, part 4) on a project of 20 streams and a
million judgements, with 90 days of stored QC figures. Prints the page's server time
(``Server-Timing: app``) cold (caches cleared) and warm, and its query count.

    .venv/bin/python bench/project_overview.py [--streams 20] [--items 16667] [--reuse]

Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/); creates and
drops the database ``quorum_bench_overview`` (``--reuse`` keeps it and reuses it next time).
Target (issue 16): ≤ 300 ms server time.

Data: per stream ``--items`` items × overlap 3 judgements (16,667 × 3 × 20 = 1,000,020) by 40
annotators, submitted over the last 60 days; per stream 90 daily QC runs, each with the run row
(with the items done / total a computation keeps there), five stream figures and 15 figures in two
windows for each of the 40 annotators (about 108,000 snapshot rows a stream); a few open alerts.
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
DB_NAME = "quorum_bench_overview"
ANNOTATOR_METRICS = [
    "judgements", "gold_accuracy", "gold_accuracy_rolling", "agreement", "cohen_kappa", "labeling_time",
    "tie_rate", "skip_rate", "rejection_rate", "position_bias", "length_bias", "straightlining",
    "harmful_recall", "harmful_flag_rate", "alpha_contribution",
]  # fmt: skip


def _admin_connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url + "postgres", autocommit=True)


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


def generate(n_streams: int, items: int, annotators: int = 40, overlap: int = 3) -> int:
    from django.contrib.auth.models import User
    from django.db import connection

    from annotation.models import Assignment, Item, Judgement
    from projects.models import Membership, Project, Role, Stream, StreamMembership
    from qc.models import Alert, MetricSnapshot

    project = Project.objects.create(slug="bench", name="Bench program")
    pm = User.objects.create(username="bench-pm")  # signed in with force_login
    Membership.objects.create(project=project, user=pm, role=Role.PM)
    User.objects.bulk_create([User(username=f"annotator{n}") for n in range(annotators)])
    first_user = User.objects.filter(username="annotator0").values_list("id", flat=True).get()
    Membership.objects.bulk_create(
        Membership(project=project, user_id=first_user + n, role=Role.ANNOTATOR) for n in range(annotators)
    )
    total = 0
    for s in range(n_streams):
        stream = Stream.objects.create(
            project=project,
            slug=f"s{s}",
            name=f"Stream {s}",
            overlap=overlap,
            status=Stream.Status.ACTIVE,
            purpose=f"Weakness number {s}",
            purpose_language="de" if s % 2 else "en",
        )
        StreamMembership.objects.bulk_create(
            StreamMembership(stream=stream, user_id=first_user + n, status="qualified") for n in range(annotators)
        )
        answer = "A reasonably detailed answer that discusses several considerations in turn, " * 3
        # Items judged 0..overlap times: a stream two thirds done.
        _insert_select(
            Item,
            {
                "stream_id": str(stream.pk),
                "external_id": "'item-' || g",
                "context": "jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Question ' || g))",
                "responses": f"""jsonb_build_array(jsonb_build_object('text', 'A: {answer}' || g),
                                                   jsonb_build_object('text', 'B: {answer}' || g))""",
                "num_responses": "2",
                "content_hash": "md5(g::text)",
                "judgement_count": f"CASE WHEN mod(g, 3) = 0 THEN 1 ELSE {overlap} END",
                "claim_count": f"CASE WHEN mod(g, 3) = 0 THEN 1 ELSE {overlap} END",
                "is_open": "mod(g, 3) = 0",
                "is_golden": "mod(g, 50) = 0",
                "golden_answers": """CASE WHEN mod(g, 50) = 0 THEN '["A"]'::jsonb ELSE '[]'::jsonb END""",
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
                "display_order": "'[0, 1]'::jsonb",
                "lease_expires_at": "now()",
                "finished_at": "now()",
            },
            pairs,
        )
        total += _insert_select(
            Judgement,
            {
                "assignment_id": "a.id",
                "item_id": "a.item_id",
                "stream_id": "a.stream_id",
                "annotator_id": "a.annotator_id",
                "choice": "CASE WHEN random() < 0.6 THEN 'A' WHEN random() < 0.9 THEN 'B' ELSE 'tie' END",
                "display_order": "'[0, 1]'::jsonb",
                "served_at": "a.t - interval '1 minute'",
                "submitted_at": "a.t",
                "active_seconds": "20.0",
                "idempotency_key": "'bench-' || a.id",
            },
            # In submission order, as a live database stores them: a day's judgements share pages.
            f"""FROM (SELECT *, now() - random() * interval '60 days' AS t
                      FROM {Assignment._meta.db_table} WHERE stream_id = {stream.pk}) a ORDER BY a.t""",
        )
        day = "date_trunc('day', now()) - d * interval '1 day' + interval '3 hours'"
        _insert_select(
            MetricSnapshot,
            {
                "stream_id": str(stream.pk),
                "annotator_id": "NULL",
                "metric": "m",
                "window": "'all'",
                "value": "0.6 + random() * 0.3",
                "sample_size": "1000 + d",
                "details": """CASE WHEN m = 'run'
                    THEN '{"flagged_annotators": 2, "flagged_metrics": {"agreement": 2}}'::jsonb
                    ELSE '{"flagged": false}'::jsonb END""",
                "computed_at": day,
            },
            "FROM generate_series(0, 89) AS d CROSS JOIN unnest(ARRAY['run', 'alpha_nominal', 'agreement', "
            "'gold_accuracy', 'alpha_ordinal', 'judgements']) AS m",
        )
        metrics = "ARRAY[" + ", ".join(f"'{m}'" for m in ANNOTATOR_METRICS) + "]"
        _insert_select(
            MetricSnapshot,
            {
                "stream_id": str(stream.pk),
                "annotator_id": f"{first_user} + a",
                "metric": "m",
                "window": "w",
                "value": "random()",
                "sample_size": "200",
                "details": """'{"flagged": false}'::jsonb""",
                "computed_at": day,
            },
            f"FROM generate_series(0, 89) AS d CROSS JOIN generate_series(0, {annotators - 1}) AS a "
            f"CROSS JOIN unnest({metrics}) AS m CROSS JOIN unnest(ARRAY['all', 'recent']) AS w",
        )
        Alert.objects.bulk_create(Alert(stream=stream, kind="position_bias", message="bench") for _ in range(3))
    _store_progress()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return total


def _store_progress() -> None:
    """What a QC computation keeps on its run row for the project page (``qc.services._store``):
    the items done / total, written into the generated run rows."""
    import json

    from django.db import connection

    from annotation.selectors import overview_progress
    from projects.models import Stream
    from qc.models import MetricSnapshot

    streams = list(Stream.objects.filter(project__slug="bench"))
    for stream_id, progress in overview_progress(streams).items():
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {MetricSnapshot._meta.db_table} SET details = details || %s::jsonb "
                "WHERE stream_id = %s AND metric = 'run'",
                [json.dumps({"progress": progress.to_dict()}), stream_id],
            )


def measure(runs: int) -> None:
    from django.core.cache import cache
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from projects.models import Project

    client = Client()
    client.force_login(Project.objects.get(slug="bench").memberships.get(role="pm").user)
    client.get("/projects/bench/")  # templates compiled, session read once

    sql_ms: list[float] = []

    def timing(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            sql_ms.append((time.perf_counter() - started) * 1000)

    def timed(cold: bool) -> tuple[float, float, float, int]:
        if cold:
            cache.clear()
        reset_queries()
        sql_ms.clear()
        cpu = time.process_time()
        with CaptureQueriesContext(connection) as queries, connection.execute_wrapper(timing):
            response = client.get("/projects/bench/")
        cpu_ms = (time.process_time() - cpu) * 1000
        assert response.status_code == 200, response.status_code
        return float(response["Server-Timing"].split("dur=")[1]), sum(sql_ms), cpu_ms, len(queries)

    # Wall-clock server time follows the machine's load; the database's share (time in queries)
    # and the web process's CPU time are printed beside it.
    for label, cold in (("cold (caches cleared)", True), ("warm", False)):
        results = [timed(cold) for _ in range(runs)]
        best = min(results)
        median = statistics.median(r[0] for r in results)
        print(
            f"{label:<22} server time best {best[0]:6.1f} ms (queries {best[1]:5.1f} ms, web CPU {best[2]:5.1f} ms)"
            f"  median {median:6.1f} ms  queries {best[3]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--items", type=int, default=16_667, help="Items per stream (× overlap 3 judgements).")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--reuse", action="store_true", help="Keep the database, and reuse one left by --reuse.")
    args = parser.parse_args()

    base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
    with _admin_connect(base) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
        if not (args.reuse and exists):
            admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
            admin.execute(f"CREATE DATABASE {DB_NAME}")
    os.environ["DATABASE_URL"] = base + DB_NAME
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
    os.environ.setdefault("LOG_LEVEL", "warning")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from annotation.models import Judgement
    from projects.models import Project

    try:
        call_command("migrate", verbosity=0)
        if args.reuse and Project.objects.filter(slug="bench").exists():
            print(f"reused {Judgement.objects.count():,} judgements in {DB_NAME}")
            _store_progress()  # a database generated before the run rows kept it
        else:
            started = time.perf_counter()
            total = generate(args.streams, args.items)
            print(f"generated {args.streams} streams, {total:,} judgements in {time.perf_counter() - started:.0f} s")
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT count(*) FROM qc_metricsnapshot")
            print(f"snapshot rows: {cursor.fetchone()[0]:,}")
        print(f"load average: {os.getloadavg()[0]:.1f}")
        measure(args.runs)
    finally:
        connections.close_all()
        if not args.reuse:
            with _admin_connect(base) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")


if __name__ == "__main__":
    main()
