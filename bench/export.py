"""Export benchmark: 1,000,000 judgements over 333,334 items (overlap 3) in a throwaway
PostgreSQL database → TRL export with majority aggregation, every pair with its ``confidence`` and
``margin`` columns (the default since issue 15). Prints pairs/s and peak RSS.

    .venv/bin/python bench/export.py [--items 333334] [--format trl] [--aggregate majority] [--reuse]

Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/); creates and
drops the database ``quorum_bench_export``. ``--reuse`` keeps it afterwards and, on the next run,
exports the data already there instead of generating it again (about 90 s) when it was generated
with the same --items/--overlap/--annotators. Targets (issue 6): ≥ 50,000 pairs/s, ≤ 300 MB RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlgen import admin_connect, insert_select  # noqa: E402 - the benches' shared helpers

DB_NAME = "quorum_bench_export"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def generate(items: int, overlap: int, annotators: int) -> tuple[int, int]:
    from django.contrib.auth.models import User
    from django.db import connection

    from annotation.models import Assignment, Item, Judgement
    from projects.models import Project, Stream

    project = Project.objects.create(slug="bench", name="Bench")
    stream = Stream.objects.create(project=project, slug="bench", name="Bench", overlap=overlap)
    User.objects.bulk_create([User(username=f"annotator{n}") for n in range(annotators)])
    first_user = User.objects.order_by("id").values_list("id", flat=True).first()
    prompt = "Explain the trade-offs of approach number "
    answer = "A reasonably detailed answer that discusses several considerations in turn, " * 3
    insert_select(
        Item,
        {
            "stream_id": str(stream.pk),
            "external_id": "'item-' || g",
            "context": f"""jsonb_build_array(jsonb_build_object('role', 'user', 'content', '{prompt}' || g || '?'))""",
            "responses": f"""jsonb_build_array(
                jsonb_build_object('text', 'A: {answer}' || g, 'model', 'model-a', 'metadata', '{{}}'::jsonb),
                jsonb_build_object('text', 'B: {answer}' || g, 'model', 'model-b', 'metadata', '{{}}'::jsonb))""",
            "num_responses": "2",
            "content_hash": "md5(g::text)",
            "judgement_count": str(overlap),
            "claim_count": str(overlap),
        },
        f"FROM generate_series(1, {items}) AS g",
    )
    # Annotator of judgement k of item i: (i * overlap + k) mod annotators — distinct per item.
    pairs = f"""FROM {Item._meta.db_table} i CROSS JOIN generate_series(0, {overlap - 1}) AS k
                WHERE i.stream_id = {stream.pk}"""
    annotator = f"{first_user} + mod(i.id * {overlap} + k, {annotators})"
    insert_select(
        Assignment,
        {
            "item_id": "i.id",
            "stream_id": str(stream.pk),
            "annotator_id": annotator,
            "status": "'submitted'",
            "display_order": "'[0, 1]'::jsonb",
            "lease_expires_at": "now()",
            "finished_at": "now()",
        },
        pairs,
    )
    # ~70% of items lean A, each judgement agrees with the lean 80% of the time; 5% ties.
    judgements = insert_select(
        Judgement,
        {
            "assignment_id": "a.id",
            "item_id": "a.item_id",
            "stream_id": "a.stream_id",
            "annotator_id": "a.annotator_id",
            "choice": "a.choice",
            "strength": "CASE WHEN a.choice IN ('A', 'B') THEN 1 + mod(a.id, 3) END",
            "display_order": "'[0, 1]'::jsonb",
            "served_at": "now() - interval '1 minute'",
            "submitted_at": "now()",
            "active_seconds": "20.0",
            "idempotency_key": "'bench-' || a.id",
        },
        f"""FROM (SELECT *, CASE WHEN random() < 0.05 THEN 'tie'
                   WHEN (random() < 0.8) = (mod(abs(hashtext(item_id::text)), 10) < 7) THEN 'A' ELSE 'B' END AS choice
                 FROM {Assignment._meta.db_table} WHERE stream_id = {stream.pk}) a""",
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # a live database is vacuumed; fresh rows would set hint bits mid-export
    return stream.pk, judgements


def _generation_key(args: argparse.Namespace) -> str:
    return f"items={args.items} overlap={args.overlap} annotators={args.annotators}"


def _mark(args: argparse.Namespace) -> None:
    """Records what was generated (the bench stream's name), so --reuse can tell it fits."""
    from projects.models import Stream

    Stream.objects.filter(project__slug="bench", slug="bench").update(name=_generation_key(args))


def _reusable(args: argparse.Namespace) -> tuple[int, int] | None:
    """(stream id, judgements) of data a previous run generated with the same parameters."""
    from annotation.models import Judgement
    from projects.models import Stream

    stream = Stream.objects.filter(project__slug="bench", slug="bench", name=_generation_key(args)).first()
    if stream is None:
        return None
    return stream.pk, Judgement.objects.filter(stream=stream).count()


def _clear() -> None:
    """Empties the bench tables of a database that cannot be reused (other parameters, or a
    generation that was interrupted) by recreating the schema."""
    from django.core.management import call_command
    from django.db import connection

    from projects.models import Project

    if not Project.objects.exists():
        return
    with connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA public CASCADE")
        cursor.execute("CREATE SCHEMA public")
    call_command("migrate", verbosity=0)


def _compare(spec: Any, fast: dict[str, Any]) -> None:
    """Exports again through the general path and checks the files and counts are the same."""
    from exports import services as exporting

    exporting._FORCE_GENERAL_PATH = True
    try:
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            general = exporting.write_export(spec, Path(out))
            elapsed = time.perf_counter() - started
    finally:
        exporting._FORCE_GENERAL_PATH = False
    pairs = general["counts"]["pairs"]["kept"]
    same_files = [f["sha256"] for f in fast["files"]] == [f["sha256"] for f in general["files"]]
    same_counts = fast["counts"] == general["counts"] and fast["streams"] == general["streams"]
    print(f"general path: {elapsed:.2f} s, {pairs / elapsed:,.0f} pairs/s")
    print(f"  same files (sha256): {same_files}; same counts and per-stream figures: {same_counts}")
    if not (same_files and same_counts):
        raise SystemExit("FAIL: the two export paths differ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=333_334)
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--annotators", type=int, default=40)
    parser.add_argument("--format", default="trl")
    parser.add_argument("--aggregate", default="majority")
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="Also export through the general path (every judgement read in Python) and check that both "
        "paths write byte-identical files and the same counts.",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="Keep the database, and reuse one a previous --reuse run left."
    )
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
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    try:
        call_command("migrate", verbosity=0)
        reused = _reusable(args) if args.reuse else None
        if reused is not None:
            stream_id, judgements = reused
            print(f"reused {args.items:,} items, {judgements:,} judgements in {DB_NAME}")
        else:
            _clear()
            started = time.perf_counter()
            stream_id, judgements = generate(args.items, args.overlap, args.annotators)
            _mark(args)
            print(f"generated {args.items:,} items, {judgements:,} judgements in {time.perf_counter() - started:.1f}s")
        rss_before = _rss_mb()

        from exports import services as exporting

        spec = exporting.ExportSpec(stream_ids=(stream_id,), format=args.format, aggregation=args.aggregate)
        with tempfile.TemporaryDirectory() as out:
            started, cpu = time.perf_counter(), time.process_time()
            manifest = exporting.write_export(spec, Path(out))
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            size = sum(f.stat().st_size for f in Path(out).glob("*.jsonl"))
        counts = manifest["counts"]
        pairs = counts["pairs"]["kept"]
        print(f"export: format={args.format} aggregate={args.aggregate}")
        print(f"  judgements read   {counts['judgements']['read']:,}")
        print(f"  pairs kept        {pairs:,}  (dropped: {counts['pairs']['dropped']})")
        print(f"  output            {size / 1e6:,.1f} MB")
        print(f"  elapsed           {elapsed:.2f} s (exporting process CPU {cpu:.2f} s)")
        print(f"  pairs/s           {pairs / elapsed:,.0f}")
        print(f"  judgements/s      {counts['judgements']['read'] / elapsed:,.0f}")
        print(f"  peak RSS          {_rss_mb():.0f} MB (before export: {rss_before:.0f} MB)")
        if args.compare:
            _compare(spec, manifest)
    finally:
        connections.close_all()
        if not (args.keep or args.reuse):
            with admin_connect(base) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")


if __name__ == "__main__":
    main()
