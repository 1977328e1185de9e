"""The heuristic demo judge on the demo's ``oasst`` stream: verdict counts, swap consistency,
spend, the budget stop, gold accuracy and agreement with AlpacaEval's GPT-4 labels.

Makes its own PostgreSQL database (``quorum_bench_judge``, dropped at the end; ``--keep`` keeps
it), loads the demo, serves the demo model on a free loopback port, runs the judge until the
demo's budget (300 requests) stops it, then raises the budget and judges the rest::

    .venv/bin/python bench/judge_demo_stream.py [--postgres postgres://postgres@127.0.0.1:5432/]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

DB_NAME = "quorum_bench_judge"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/", help="server URL, ending in /")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    import psycopg

    with psycopg.connect(args.postgres + "postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
        admin.execute(f"CREATE DATABASE {DB_NAME}")
    os.environ["DATABASE_URL"] = args.postgres + DB_NAME
    os.environ.pop("REDIS_URL", None)
    os.environ["QUORUM_JUDGE_BACKOFF_MS"] = "500"
    os.environ["DJANGO_SETTINGS_MODULE"] = "quorum.settings"
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    try:
        measure()
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(args.postgres + "postgres", autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")


def measure() -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import override_settings

    from annotation.models import Judgement
    from dynamic.demo_model import Behaviour, DemoModelServer, load_corpus
    from judging import selectors, services
    from judging.models import Judge, JudgeRun, Verdict

    call_command("migrate", verbosity=0)
    with open(os.devnull, "w") as quiet:
        call_command("load_demo", stdout=quiet)
    judge = Judge.objects.select_related("endpoint", "stream").get()
    server = DemoModelServer(("127.0.0.1", 0), load_corpus(settings.QUORUM_DEMO_DATA_DIR), Behaviour(token_delay=0.0))
    server.start()
    judge.endpoint.base_url = server.url
    judge.endpoint.save(update_fields=["base_url"])

    def report(label: str) -> None:
        judge.refresh_from_db()
        f = selectors.judge_figures(judge)
        print(
            f"{label}: consistent {f.consistent}, inconsistent {f.inconsistent}, errors {f.errors}, "
            f"not judged {f.pending}; swap consistency {f.swap_consistency_percent} of {f.answered}; "
            f"spend {judge.spent_requests}/{judge.budget_requests} requests, "
            f"{judge.spent_tokens}/{judge.budget_tokens} tokens ({judge.estimated_tokens} estimated)"
        )
        for r in JudgeRun.objects.filter(judge=judge).order_by("id"):
            print(
                f"   run #{r.pk}: {r.status_text()}; {r.judged}/{r.items_total} items, {r.requests} requests, "
                f"{r.retries} retries, {r.tokens} tokens"
            )

    print(f"judge on {judge.stream.slug}, concurrency {judge.concurrency}, load average {os.getloadavg()[0]:.1f}")
    with override_settings(QUORUM_ENDPOINT_ALLOWED_HOSTS=[f"127.0.0.1:{server.server_address[1]}"]):
        started = time.monotonic()
        run, _ = services.start_run(judge=judge)
        print(f"first run: {services.run_judge(run_id=run.pk)} after {time.monotonic() - started:.1f} s")
        report("at the demo's budget")
        services.update_judge(judge=judge, budget_requests=2000)
        run, _ = services.start_run(judge=judge)
        print("second run:", services.run_judge(run_id=run.pk))
        report("whole stream")
    server.shutdown()
    golden = Judgement.objects.filter(source=Judgement.Source.MODEL, item__is_golden=True)
    right = golden.filter(gold_correct=True).count()
    print(f"golden items with a consistent verdict: {golden.count()}, right: {right}")
    consistent = Verdict.objects.filter(judge=judge, status=Verdict.Status.CONSISTENT).select_related("item")
    print("consistent verdicts by answer:", dict(Counter(v.answer_shown_ab for v in consistent)))
    labelled = [v for v in consistent if (v.item.prior_label or {}).get("choice")]
    agree = sum(v.answer_shown_ab == (v.item.prior_label or {}).get("choice") for v in labelled)
    print(f"agreement with AlpacaEval's GPT-4 label: {agree} of {len(labelled)}")


if __name__ == "__main__":
    main()
