"""``manage.py qc_report --stream <id | slug | project/stream> [--json] [--recompute]``: a stream's
QC figures and each annotator's (by username), each with its sample size and whether it is
flagged. Reads the newest snapshots; ``--recompute`` computes them first. ``--json`` prints the
same document as ``GET /api/streams/<id>/metrics/`` (fields in docs/qc.md)."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from annotation.management.commands.import_items import resolve_stream
from qc import selectors, services


def _value(entry: dict[str, Any]) -> str:
    value = entry["value"]
    if value is None:
        return "—"
    if entry["metric"] == "labeling_time":
        return f"{value:.1f} s"
    if entry["metric"] == "judgements":
        return f"{int(value)}"
    return f"{value:.3f}"


class Command(BaseCommand):
    help = "Print a stream's QC figures and each annotator's, with sample sizes and flags."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--stream", required=True, metavar="STREAM", help="Stream id, slug, or project-slug/stream-slug."
        )
        parser.add_argument("--json", action="store_true", help="Machine-readable output (the API's document).")
        parser.add_argument("--recompute", action="store_true", help="Recompute the figures first.")

    def handle(self, *args: Any, **options: Any) -> None:
        stream = resolve_stream(options["stream"])
        if options["recompute"]:
            services.compute_stream_metrics(stream=stream)
        report = selectors.metrics_report(stream)
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2, sort_keys=False))
            return
        self._print(report)

    def _print(self, report: dict[str, Any]) -> None:
        s, t = report["stream"], report["thresholds"]
        self.stdout.write(f"Stream {s['project']}/{s['slug']} (id {s['id']}) — {s['name']}")
        if report["computed_at"] is None:
            self.stdout.write("No figures computed yet: run with --recompute (or wait for the periodic job).")
        else:
            self.stdout.write(f"Computed {report['computed_at']}; recent = last {report['recent_days']} days.")
        self.stdout.write(
            f"Thresholds: min sample {t['min_sample']}, gold ≥ {t['min_gold_accuracy']:.0%} after "
            f"{t['min_gold_count']} answers, agreement ≥ {t['min_agreement']}, ≥ {t['min_seconds']} s."
        )
        paused = [a["annotator"] for a in report.get("annotators", []) if a["status"] == "paused"]
        if paused:
            self.stdout.write(f"Paused: {', '.join(paused)}")
        for alert in report.get("open_alerts", []):
            self.stdout.write(
                f"ALERT [{alert['severity']}] {alert['kind']} {alert['annotator'] or ''}: {alert['message']} "
                f"(n={alert['details'].get('sample_size')}; action: {alert['action_taken']})"
            )
        groups: dict[str | None, dict[str, dict[str, dict[str, Any]]]] = {}
        for entry in report["results"]:
            groups.setdefault(entry["annotator"], {}).setdefault(entry["metric"], {})[entry["window"]] = entry
        for name, figures in groups.items():
            self.stdout.write("")
            if name is None:
                self.stdout.write("STREAM")
            else:
                flags = sorted({m for m, w in figures.items() for e in w.values() if e["flagged"]})
                self.stdout.write(f"ANNOTATOR {name}" + (f"  — flagged: {', '.join(flags)}" if flags else ""))
            self.stdout.write(f"  {'metric':<24}{'all':<32}{'recent':<32}")
            for metric, windows in figures.items():
                cells = []
                for window in ("all", "recent"):
                    entry = windows.get(window)
                    if entry is None:
                        cells.append(f"{'—':<32}")
                        continue
                    flagged = "yes" if entry["flagged"] else "no"
                    cells.append(f"{_value(entry) + ' (n=' + str(entry['sample_size']) + ') flagged: ' + flagged:<32}")
                self.stdout.write(f"  {metric:<24}{''.join(cells)}")
