"""A million-judgement program (issue 17, part 5): every page a PM opens, and the periodic QC
work, on a project of 20 streams, a million judgements, 500 annotators and 10,000 golden answers.
Prints each page's server time (``Server-Timing: app``) cold (caches cleared) and warm with its
query count and the time spent in queries, then one stream's QC recompute against the beat's
interval.

    .venv/bin/python bench/program.py [--streams 20] [--items 16667] [--annotators 500] [--reuse]

Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/); creates and
drops the database ``quorum_bench_program`` (``--reuse`` keeps it and reuses it next time).
Target (issue 17): every PM page ≤ 300 ms server time; the periodic QC of the streams that
received work fits its one-minute interval on the workers.

Data: per stream ``--items`` items, a third judged once (still open), the rest three times
(21,430 × 7/3 × 20 = 1,000,067 judgements), submitted over the last 60 days by 75 of the 500 annotators
(each annotator works in three streams); every 80th item golden, its judgements scored (about
10,000 golden answers); 2% of the judgements sampled for review, a tenth of those reviewed; per
stream 90 daily QC runs with five stream figures, and 30 days of 15 figures in two windows for each
of its 75 annotators; a few open alerts and finished exports.
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
sys.path.insert(0, str(ROOT / "bench"))

from sqlgen import admin_connect, insert_select  # noqa: E402 - the benches' shared helpers

DB_NAME = "quorum_bench_program"
PER_STREAM = 75  # annotators working in each stream
GOLDEN_EVERY = 80  # every 80th item is golden
ANNOTATOR_METRICS = [
    "judgements", "gold_accuracy", "gold_accuracy_rolling", "agreement", "cohen_kappa", "labeling_time",
    "tie_rate", "skip_rate", "rejection_rate", "position_bias", "length_bias", "straightlining",
    "harmful_recall", "harmful_flag_rate", "alpha_contribution",
]  # fmt: skip


def generate(n_streams: int, items: int, annotators: int, overlap: int = 3) -> int:
    from django.contrib.auth.models import User
    from django.db import connection

    from annotation.models import Assignment, Item, Judgement
    from exports.models import Export
    from projects.models import Membership, Project, Role, Stream, StreamMembership
    from qc.models import Alert, MetricSnapshot, Review, ReviewTask

    project = Project.objects.create(slug="bench", name="Bench program")
    pm = User.objects.create(username="bench-pm")  # signed in with force_login
    Membership.objects.create(project=project, user=pm, role=Role.PM)
    User.objects.bulk_create([User(username=f"annotator{n}") for n in range(annotators)])
    first_user = User.objects.filter(username="annotator0").values_list("id", flat=True).get()
    Membership.objects.bulk_create(
        Membership(project=project, user_id=first_user + n, role=Role.ANNOTATOR) for n in range(annotators)
    )
    per_stream = min(PER_STREAM, annotators)
    stride = max(1, annotators // n_streams)
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
        # The stream's annotators: a window of the pool, so each person works in a few streams.
        team = f"{first_user} + mod({s * stride} + mod(i.id * {overlap} + k, {per_stream}), {annotators})"
        StreamMembership.objects.bulk_create(
            StreamMembership(stream=stream, user_id=first_user + (s * stride + n) % annotators, status="qualified")
            for n in range(per_stream)
        )
        answer = "A reasonably detailed answer that discusses several considerations in turn, " * 3
        # Items judged 0..overlap times: a stream two thirds done.
        insert_select(
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
                "is_golden": f"mod(g, {GOLDEN_EVERY}) = 0",
                "golden_answers": f"""CASE WHEN mod(g, {GOLDEN_EVERY}) = 0 THEN '["A"]'::jsonb ELSE '[]'::jsonb END""",
            },
            f"FROM generate_series(1, {items}) AS g",
        )
        pairs = f"""FROM {Item._meta.db_table} i CROSS JOIN generate_series(0, {overlap - 1}) AS k
                    WHERE i.stream_id = {stream.pk} AND (k = 0 OR NOT i.is_open)"""
        insert_select(
            Assignment,
            {
                "item_id": "i.id",
                "stream_id": str(stream.pk),
                "annotator_id": team,
                "status": "'submitted'",
                "display_order": "'[0, 1]'::jsonb",
                "lease_expires_at": "now()",
                "finished_at": "now()",
            },
            pairs,
        )
        total += insert_select(
            Judgement,
            {
                "assignment_id": "a.id",
                "item_id": "a.item_id",
                "stream_id": "a.stream_id",
                "annotator_id": "a.annotator_id",
                "choice": "a.choice",
                "gold_correct": "CASE WHEN a.is_golden THEN a.choice = 'A' END",
                "display_order": "'[0, 1]'::jsonb",
                "served_at": "a.t - interval '1 minute'",
                "submitted_at": "a.t",
                "active_seconds": "20.0",
                "idempotency_key": "'bench-' || a.id",
            },
            # In submission order, as a live database stores them: a day's judgements share pages.
            f"""FROM (SELECT a.*, i.is_golden, now() - random() * interval '60 days' AS t,
                        CASE WHEN random() < 0.6 THEN 'A' WHEN random() < 0.75 THEN 'B' ELSE 'tie' END AS choice
                      FROM {Assignment._meta.db_table} a JOIN {Item._meta.db_table} i ON i.id = a.item_id
                      WHERE a.stream_id = {stream.pk}) a ORDER BY a.t""",
        )
        # 2% of the judgements sampled for review; a tenth of those reviewed.
        insert_select(
            ReviewTask,
            {
                "judgement_id": "j.id",
                "stream_id": str(stream.pk),
                "reason": "'sample'",
                "created_at": "j.submitted_at",
                "done": "mod(j.id, 10) = 0",
            },
            f"FROM {Judgement._meta.db_table} j WHERE j.stream_id = {stream.pk} AND mod(j.id, 50) = 0",
        )
        insert_select(
            Review,
            {
                "judgement_id": "t.judgement_id",
                "reviewer_id": str(pm.pk),
                "decision": "CASE WHEN mod(t.id, 7) = 0 THEN 'reject' ELSE 'accept' END",
                "reason": "CASE WHEN mod(t.id, 7) = 0 THEN 'rushed' ELSE '' END",
                "created_at": "t.created_at + interval '1 hour'",
            },
            f"FROM {ReviewTask._meta.db_table} t WHERE t.stream_id = {stream.pk} AND t.done",
        )
        day = "date_trunc('day', now()) - d * interval '1 day' + interval '3 hours'"
        insert_select(
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
        insert_select(
            MetricSnapshot,
            {
                "stream_id": str(stream.pk),
                "annotator_id": f"{first_user} + mod({s * stride} + a, {annotators})",
                "metric": "m",
                "window": "w",
                "value": "random()",
                "sample_size": "200",
                "details": """'{"flagged": false}'::jsonb""",
                "computed_at": day,
            },
            f"FROM generate_series(0, 29) AS d CROSS JOIN generate_series(0, {per_stream - 1}) AS a "
            f"CROSS JOIN unnest({metrics}) AS m CROSS JOIN unnest(ARRAY['all', 'recent']) AS w",
        )
        Alert.objects.bulk_create(Alert(stream=stream, kind="position_bias", message="bench") for _ in range(3))
    for n in range(12):
        export = Export.objects.create(
            project=project,
            created_by=pm,
            format="trl",
            status=Export.Status.DONE,
            progress=1.0,
            counts={"pairs": {"kept": 300_000 + n, "dropped": {}}},
            manifest={"counts": {"pairs": {"kept": 300_000 + n}}},
        )
        export.streams.set(Stream.objects.filter(project=project))
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


def pages() -> list[tuple[str, str]]:
    """(name, URL) of every page a PM opens, on the middle stream and its busiest annotator."""
    from django.db.models import Count
    from django.urls import reverse

    from annotation.models import Judgement
    from projects.models import Stream

    streams = list(Stream.objects.filter(project__slug="bench").order_by("pk"))
    stream = streams[len(streams) // 2]
    busiest = (
        Judgement.objects.filter(stream=stream).values("annotator_id").annotate(n=Count("id")).order_by("-n").first()
    )
    assert busiest is not None
    sid, uid = stream.pk, busiest["annotator_id"]
    return [
        ("project overview", reverse("project_detail", args=["bench"])),
        ("stream", reverse("stream_detail", args=[sid])),
        ("quality (stream QC)", reverse("qc:stream_qc", args=[sid])),
        ("annotator", reverse("qc:annotator_qc", args=[sid, uid])),
        ("review queue", reverse("qc:review_queue", args=[sid])),
        ("exports", reverse("exports:exports", args=["bench"])),
        ("golden set", reverse("qc:golden_set", args=[sid])),
        ("item browser", reverse("annotation:item_browser", args=[sid])),
        ("members", reverse("members", args=["bench"])),
        ("quality home", reverse("qc:quality_home")),
        ("review home", reverse("qc:review_home")),
    ]


def measure(runs: int) -> float:
    """Prints every page's server time; returns the slowest page's best warm time (ms)."""
    from django.core.cache import cache
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from projects.models import Project

    client = Client()
    client.force_login(Project.objects.get(slug="bench").memberships.get(role="pm").user)
    sql_ms: list[float] = []

    def timing(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            sql_ms.append((time.perf_counter() - started) * 1000)

    def timed(url: str, cold: bool) -> tuple[float, float, float, int]:
        if cold:
            cache.clear()
        reset_queries()
        sql_ms.clear()
        cpu = time.process_time()
        with CaptureQueriesContext(connection) as queries, connection.execute_wrapper(timing):
            response = client.get(url)
        cpu_ms = (time.process_time() - cpu) * 1000
        assert response.status_code == 200, (url, response.status_code)
        return float(response["Server-Timing"].split("dur=")[1]), sum(sql_ms), cpu_ms, len(queries)

    # Wall-clock server time follows the machine's load; the database's share (time in queries)
    # and the web process's CPU time are printed beside it.
    slowest = 0.0
    header = ("cold best", "warm best", "warm median", "queries", "in SQL", "web CPU")
    print(f"{'page':<20} " + " ".join(f"{h:>11}" for h in header))
    for name, url in pages():
        client.get(url)  # templates compiled, session read once
        cold = min(timed(url, True) for _ in range(max(1, runs // 2)))
        warm_runs = [timed(url, False) for _ in range(runs)]
        warm = min(warm_runs)
        median = statistics.median(r[0] for r in warm_runs)
        slowest = max(slowest, warm[0], cold[0])
        print(
            f"{name:<20} {cold[0]:9.1f}ms {warm[0]:9.1f}ms {median:9.1f}ms {warm[3]:11d} "
            f"{warm[1]:9.1f}ms {warm[2]:9.1f}ms"
        )
    return slowest


def measure_qc(n: int) -> None:
    """One stream's periodic QC work (compute the figures, then the rules act), as a worker runs it
    (``qc.tasks.compute_stream_metrics_task``), for ``n`` streams."""
    from projects.models import Stream
    from qc import rules

    everything = list(Stream.objects.filter(project__slug="bench").order_by("pk"))
    streams = everything[len(everything) // 2 :][:n]  # the pages' stream first: its run row is real
    seconds = []
    for stream in streams:
        started = time.perf_counter()
        rules.recompute_and_act(stream=stream)
        seconds.append(time.perf_counter() - started)
    interval = 60.0
    print(
        f"periodic QC: {len(seconds)} streams, {statistics.median(seconds):.1f} s median per stream "
        f"(slowest {max(seconds):.1f} s, all {sum(seconds):.1f} s on one worker); interval {interval:.0f} s: "
        f"all {len(everything)} streams fit on "
        f"{max(1, int(-(-max(seconds) * len(streams) // interval)))} worker(s) when every stream had new work"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument(
        "--items", type=int, default=21_430, help="Items per stream (a third judged once, the rest three times)."
    )
    parser.add_argument("--annotators", type=int, default=500)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--qc-streams", type=int, default=3, help="Streams whose QC recompute is timed.")
    parser.add_argument("--reuse", action="store_true", help="Keep the database, and reuse one left by --reuse.")
    args = parser.parse_args()

    base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
    with admin_connect(base) as admin:
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
            total = generate(args.streams, args.items, args.annotators)
            print(f"generated {args.streams} streams, {total:,} judgements in {time.perf_counter() - started:.0f} s")
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT count(*) FROM qc_metricsnapshot")
            print(f"snapshot rows: {cursor.fetchone()[0]:,}")
        print(f"load average: {os.getloadavg()[0]:.1f}")
        measure_qc(args.qc_streams)
        slowest = measure(args.runs)
        print(f"slowest PM page: {slowest:.0f} ms server time (target <= 300 ms)")
    finally:
        connections.close_all()
        if not args.reuse:
            with admin_connect(base) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")


if __name__ == "__main__":
    main()
