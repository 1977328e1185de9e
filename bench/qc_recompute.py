"""QC recompute benchmark: one stream with 100,000 judgements (33,334 items × overlap 3, 60
annotators, 5% golden items, rubric ratings on two attributes, random display order, skips and
reviews) in a throwaway PostgreSQL database → full ``qc.services.compute_stream_metrics`` runs
(both windows, every figure, snapshots written). Prints the seconds the best run took, the CPU
seconds of the process and of its PostgreSQL backend in that run, and the peak RSS.

    .venv/bin/python bench/qc_recompute.py [--items 33334] [--overlap 3] [--annotators 60] [--runs 3]
                                           [--keep] [--reuse]

The recompute runs in a child process of its own, so the peak RSS (its ``ru_maxrss``) is the
recompute's and not the data generation's. The machine's load average is printed beside the
times: on a shared box the wall-clock seconds grow with it, the CPU seconds much less.

Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/); creates and
drops the database ``quorum_bench_qc`` (``--keep`` keeps it; ``--reuse`` then skips generating the
same stream again). Targets: ≤ 5 s for 100,000 judgements (issue 5); ≤ 30 s and ≤ 1 GB peak RSS
for 1,000,000 (``--items 333334``; issue 11: the periodic recompute runs every minute for streams
with new work).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlgen import insert_select  # noqa: E402 - the benches' shared helpers

DB_NAME = "quorum_bench_qc"


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
    insert_select(
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
    insert_select(
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
    judgements = insert_select(
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
    insert_select(
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


def _cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) of a local process, e.g. the PostgreSQL backend; None when its
    /proc entry cannot be read (another host, another OS)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def measure(stream_id: int, runs: int) -> dict[str, Any]:
    """The measured part, in a process of its own (``--measure``): ``runs`` full recomputes of the
    stream, then its QC rules. Peak RSS is this process's ``ru_maxrss``: the recompute's own
    memory, without the generation's."""
    from django.db import connection

    from projects.models import Stream, StreamMembership
    from qc import rules
    from qc.models import MetricSnapshot
    from qc.services import compute_stream_metrics

    stream = Stream.objects.get(pk=stream_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    wall, cpu, db_cpu = [], [], []
    for _ in range(runs):
        started, cpu_started, db_started = time.perf_counter(), time.process_time(), _cpu_seconds(backend)
        result = compute_stream_metrics(stream=stream)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
        db_ended = _cpu_seconds(backend)
        db_cpu.append(None if db_started is None or db_ended is None else db_ended - db_started)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The periodic task then runs the stream's QC rules on the fresh figures (qc.rules), for the
    # annotators who are members of the stream (qualified).
    StreamMembership.objects.bulk_create(
        [StreamMembership(stream=stream, user_id=user_id, status="qualified") for user_id in result.annotator_ids],
        ignore_conflicts=True,
    )
    started = time.perf_counter()
    alerts = rules.apply_rules(stream=stream, result=result)
    alpha = result.windows["all"].stream["alpha_nominal"]
    return {
        "judgements": int(result.windows["all"].stream["judgements"].sample_size),
        "annotators": len(result.annotator_ids),
        "snapshots": MetricSnapshot.objects.filter(stream=stream, computed_at=result.computed_at).count(),
        "alpha": f"{alpha.value} (n={alpha.sample_size})",
        "wall": wall,
        "cpu": cpu,
        "db_cpu": db_cpu,
        "rss_before": rss_before,
        "peak_rss": peak,
        "rules_seconds": time.perf_counter() - started,
        "alerts": len(alerts),
    }


def _setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
    os.environ.setdefault("LOG_LEVEL", "warning")
    import django

    django.setup()


def _bench_stream(items: int) -> int | None:
    """The stream a previous run left (``--keep``) when it has ``items`` items, else None."""
    from annotation.models import Item
    from projects.models import Stream

    stream = Stream.objects.filter(slug="bench").first()
    if stream is None or Item.objects.filter(stream=stream).count() != items:
        return None
    return stream.pk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=33_334)
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--annotators", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3, help="Full recomputes to time (the best and all are shown).")
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    parser.add_argument(
        "--reuse", action="store_true", help="Use the database a --keep run left when it has --items items."
    )
    parser.add_argument("--measure", type=int, metavar="STREAM_ID", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()

    import psycopg

    base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
    if args.measure is not None:
        _setup(base + DB_NAME)
        print(json.dumps(measure(args.measure, args.runs)))
        return

    with psycopg.connect(base + "postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone() is not None
        if not (args.reuse and exists):
            admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
            admin.execute(f"CREATE DATABASE {DB_NAME}")
    _setup(base + DB_NAME)
    from django.core.management import call_command
    from django.db import connections

    try:
        call_command("migrate", verbosity=0)
        stream_id = _bench_stream(args.items) if args.reuse else None
        generated = 0.0
        if stream_id is None:
            if args.reuse:  # a stream of another size: start again
                connections.close_all()
                with psycopg.connect(base + "postgres", autocommit=True) as admin:
                    admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
                    admin.execute(f"CREATE DATABASE {DB_NAME}")
                call_command("migrate", verbosity=0)
            started = time.perf_counter()
            stream_id, _judgements = generate(args.items, args.overlap, args.annotators)
            generated = time.perf_counter() - started
        connections.close_all()
        child = subprocess.run(
            [sys.executable, __file__, "--measure", str(stream_id), "--runs", str(args.runs)],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "BENCH_DATABASE_URL": base},
        )
        out = json.loads(child.stdout.strip().splitlines()[-1])
        best = min(range(len(out["wall"])), key=lambda run: out["wall"][run])
        db_cpu = out["db_cpu"][best]
        print(f"cpus {os.cpu_count()}")
        print(f"load_average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        print(f"generation {generated:.1f} s" + ("" if generated else " (reused)"))
        print(f"judgements {out['judgements']}")
        print(f"annotators {out['annotators']}")
        print(f"snapshots_per_run {out['snapshots']}")
        print(f"alpha_nominal {out['alpha']}")
        print(f"compute_runs {' '.join(f'{t:.2f}' for t in out['wall'])} s")
        target = "≤ 5 s at 100k" if out["judgements"] <= 200_000 else "≤ 30 s and ≤ 1 GB at 1M"
        print(f"compute_stream_metrics {out['wall'][best]:.2f} s (target {target})")
        print(f"compute_cpu {out['cpu'][best]:.2f} s (this process, the best run)")
        db = "n/a" if db_cpu is None else f"{db_cpu:.2f}"
        print(f"database_cpu {db} s (its PostgreSQL backend, same run; parallel workers not counted)")
        print(f"qc_rules {out['rules_seconds']:.2f} s ({out['alerts']} alerts)")
        print(f"rss_before {out['rss_before']:.0f} MB (the measuring process after start-up)")
        print(f"peak_rss {out['peak_rss']:.0f} MB (the measuring process: every run)")
    finally:
        connections.close_all()
        if not args.keep:
            with psycopg.connect(base + "postgres", autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")


if __name__ == "__main__":
    main()
