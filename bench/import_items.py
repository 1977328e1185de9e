"""Import benchmark: 100,000 generated pairwise items (native JSONL, ~1 KB each) into PostgreSQL,
then the same file again (the idempotent re-import path). Target (issue 2): at least 20,000 items/s
with a peak RSS under 250 MB on the 2-core reference machine.

    .venv/bin/python bench/import_items.py [--items N] [--runs N] [--gzip] [--database-url URL] [--keep]

Uses DATABASE_URL when set, else creates a throwaway database ``quorum_bench`` on 127.0.0.1:5432
(dropped at the end unless --keep). Generation happens in this process; each import runs in a
child process through ``annotation.importing.import_items``, so the peak RSS printed (ru_maxrss of
the child, Django included) is the importer's alone. The machine's load average is printed too:
on a shared machine other processes take CPU from both the importer and PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/quorum_bench"

WORDS = [
    "the",
    "model",
    "answer",
    "question",
    "user",
    "request",
    "data",
    "training",
    "policy",
    "reward",
    "response",
    "helpful",
    "harmless",
    "honest",
    "explain",
    "example",
    "code",
    "python",
    "function",
    "error",
    "result",
    "value",
    "system",
    "prompt",
    "context",
    "token",
    "language",
    "translate",
    "summary",
    "article",
    "review",
    "quality",
    "rating",
    "compare",
    "better",
    "worse",
    "because",
    "however",
    "first",
    "second",
    "finally",
    "therefore",
    "consider",
    "approach",
    "method",
    "step",
    "detail",
    "clear",
    "concise",
    "accurate",
]
MODELS = ["llama-3.1-70b", "mixtral-8x7b", "qwen2.5-72b", "gpt-4o-mini", "claude-3-haiku", "gemma-2-27b"]


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def generate(path: Path, count: int, *, seed: int = 7) -> int:
    rng = random.Random(seed)
    with path.open("wb") as out:
        for i in range(count):
            context = [{"role": "user", "content": sentence(rng, rng.randint(8, 30))}]
            if rng.random() < 0.3:
                context = [
                    {"role": "system", "content": "You are a helpful assistant."},
                    *context,
                    {"role": "assistant", "content": sentence(rng, 15)},
                    {"role": "user", "content": sentence(rng, 10)},
                ]
            a, b = rng.sample(MODELS, 2)
            record = {
                "id": f"bench-{i:07d}",
                "context": context,
                "responses": [
                    {"text": " ".join(sentence(rng, 12) for _ in range(rng.randint(2, 5))), "model": a},
                    {"text": " ".join(sentence(rng, 12) for _ in range(rng.randint(2, 5))), "model": b},
                ],
                "metadata": {"source": "bench", "domain": rng.choice(["code", "chat", "math", "writing"])},
            }
            if i % 50 == 0:
                record["golden"] = {"answers": [rng.choice("AB")], "explanation": sentence(rng, 10)}
            out.write(json.dumps(record).encode() + b"\n")
    return path.stat().st_size


def ensure_database(url: str) -> bool:
    """Creates the database of ``url`` when missing; returns True when it created it."""
    import psycopg

    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(f'CREATE DATABASE "{name}"')
    return True


def drop_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def child(path: str, fresh: bool) -> None:
    """Runs one import through the service and prints its figures as JSON."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
    import django

    django.setup()
    from annotation.importing import import_items
    from projects.models import Project
    from projects.services import create_project, create_stream

    if fresh:  # a new project each run: deleting the last one would count in this process's RSS
        slug = f"bench-{int(time.time())}"
        stream = create_stream(project=create_project(slug=slug, name="Bench"), slug="bench", name="Bench")
    else:
        stream = Project.objects.filter(slug__startswith="bench-").latest("created_at").streams.get(slug="bench")
    started, cpu_started = time.perf_counter(), time.process_time()
    report = import_items(stream=stream, source=path, fmt="native")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu": cpu,
                "lines": report.lines_read,
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "invalid": report.invalid,
                "rss_mb": rss_kb / 1024,
            }
        )
    )


def run_child(path: Path, env: dict[str, str], *, fresh: bool) -> dict[str, float]:
    args = [sys.executable, __file__, "--child", str(path)] + (["--fresh"] if fresh else [])
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"import failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--keep", action="store_true", help="keep the database it created")
    parser.add_argument("--gzip", action="store_true", help="import a gzipped copy of the file")
    parser.add_argument(
        "--runs", type=int, default=1, help="import and re-import this many times; the median is reported"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--fresh", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.fresh)
        return

    url = args.database_url
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("The benchmark measures PostgreSQL: give a postgres:// DATABASE_URL.")
    created_db = ensure_database(url)
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "quorum.settings", "LOG_LEVEL": "warning"}
    try:
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], env=env, check=True)
        print(machine(url))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.jsonl"
            started = time.perf_counter()
            size = generate(path, args.items)
            print(
                f"generated {args.items:,} items, {size / 1e6:.1f} MB ({size / args.items:.0f} B/item) "
                f"in {time.perf_counter() - started:.1f} s (not measured)"
            )
            if args.gzip:
                subprocess.run(["gzip", "-1", str(path)], check=True)
                path = path.with_suffix(".jsonl.gz")
                print(f"gzipped: {path.stat().st_size / 1e6:.1f} MB")
            runs = []
            for _ in range(args.runs):
                runs.append(("import", run_child(path, env, fresh=True)))
                runs.append(("re-import", run_child(path, env, fresh=False)))
    finally:
        if created_db and not args.keep:
            drop_database(url)
    for label, r in runs:
        print(
            f"{label:>9}: {r['lines']:,} lines in {r['seconds']:.2f} s = {r['lines'] / r['seconds']:,.0f} items/s "
            f"(importer CPU {r['cpu']:.2f} s); peak RSS {r['rss_mb']:.0f} MB; created {r['created']:,}, "
            f"updated {r['updated']:,}, unchanged {r['unchanged']:,}, invalid {r['invalid']:,}"
        )
    print()
    for label, key in (("import", "import"), ("reimport", "re-import")):
        results = sorted((r for name, r in runs if name == key), key=lambda r: r["seconds"])
        median = results[len(results) // 2]
        print(f"{label}_rate {median['lines'] / median['seconds']:.0f} items/s")
        print(f"{label}_peak_rss {max(r['rss_mb'] for r in results):.0f} MB")


def machine(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} CPUs, {memory:.0f} GiB RAM, PostgreSQL {row[0] if row else '?'}, "
        f"load average {load}"
    )


if __name__ == "__main__":
    main()
