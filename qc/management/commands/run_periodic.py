"""``manage.py run_periodic [--once] [--only NAME ...]``: the periodic jobs of
``CELERY_BEAT_SCHEDULE`` without celery beat or Redis, for the embedded mode (``make run`` starts
it beside the server and stops it with the server).

Each job runs in this process on its interval (the production schedule); each run is recorded in
its ``qc.models.PeriodicJob`` row, which is also the lock that keeps two copies of this command
from running one job twice (``qc.periodic``). Production runs ``celery -A quorum beat`` instead.
SIGTERM or Ctrl-C stops it after the job in progress; a second one stops it at once."""

from __future__ import annotations

import signal
import threading
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from qc import periodic


class Command(BaseCommand):
    help = "Run the periodic jobs (CELERY_BEAT_SCHEDULE) in this process, on their intervals, until stopped."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run the jobs that are due now, then exit.")
        parser.add_argument(
            "--only", action="append", metavar="NAME", default=[], help="Only this job (a schedule key); repeatable."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        jobs = periodic.schedule_jobs()
        if options["only"]:
            unknown = sorted(set(options["only"]) - {job.name for job in jobs})
            if unknown:
                known = ", ".join(job.name for job in jobs)
                raise CommandError(f"--only: no periodic job named {', '.join(unknown)} (known: {known}).")
            jobs = [job for job in jobs if job.name in options["only"]]
        if options["once"]:
            periodic.ensure_rows(jobs)
            ran = periodic.run_due(jobs)
            self.stdout.write(f"ran: {', '.join(ran) or 'nothing was due'}")
            return

        stop = threading.Event()

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            if stop.is_set():
                raise SystemExit(128 + signum)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.stdout.write(
            "Periodic jobs: " + ", ".join(f"{job.name} every {job.interval:g} s" for job in jobs), ending="\n"
        )
        self.stdout.flush()
        periodic.run_forever(jobs, stop=stop)
