"""``manage.py export_examples``: the example exports under docs/examples/ — one export of the demo
in every format, with its manifest and dataset card.

Run it on a throwaway database with the demo loaded (``make examples`` does: a temporary SQLite
file, ``migrate``, ``load_demo``, this command). The demo's own judgements are simulated and never
exported, so this command first *scripts* a few judgements from the demo accounts annotator1–3 on a
handful of items per stream: the AlpacaEval judge's verdict (the items' prior label) with 80%
probability, strengths, some ties and both-bad answers; rubric ratings on the Vicuna stream;
helpful-and-safe answers (``Judgement.axes``) on the harmlessness stream; per-attribute answers
with a justification on the Koala stream. They show the shape of every file, not data to train on:
the dataset cards say so in their licence line.

It refuses a database whose demo project already holds judgements that are not simulated (a real
database, or one this command already filled), unless ``--force``.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from annotation.models import Item, Judgement
from demo.management.commands.load_demo import PROJECT_SLUG
from demo.simulate import record_judgement
from exports import services as exporting
from projects.models import Project, Stream
from qc import golden

User = get_user_model()

ROWS = 20  # rows kept per example file
PAIR_STREAMS = ("oasst", "harmlessness")
LICENCE = "examples only — scripted judgements on the demo's data: AlpacaEval (Apache-2.0), HH-RLHF harmless-base (MIT)"
# (directory, format, streams, extra options)
EXAMPLES: list[tuple[str, str, tuple[str, ...], dict[str, Any]]] = [
    ("trl", "trl", PAIR_STREAMS, {}),
    ("trl-conversational", "trl-conversational", PAIR_STREAMS, {}),
    ("reward", "reward", PAIR_STREAMS, {}),
    ("kto", "kto", PAIR_STREAMS, {}),
    ("openrlhf", "openrlhf", PAIR_STREAMS, {}),
    ("llama-factory", "llama-factory", PAIR_STREAMS, {}),
    ("rewardbench", "rewardbench", PAIR_STREAMS, {"test_fraction": 0.5, "seed": 1}),
    ("helpsteer", "helpsteer", ("vicuna",), {}),
    ("helpsteer3", "helpsteer", ("koala",), {}),
    ("safe-rlhf", "safe-rlhf", ("harmlessness",), {}),
    ("raw", "raw", ("oasst",), {}),
]
RUBRIC = ["helpfulness", "correctness", "coherence", "complexity", "verbosity"]
ATTRIBUTES = ["correctness", "instruction_following", "style"]
HARM = ["violence", "crime", "hate", "self_harm", "privacy"]
WHY = {
    "A": "Response 1 answers what was asked and its facts check out; response 2 drifts.",
    "B": "Response 2 is correct and complete; response 1 misses part of the question.",
    "tie": "Both are about as good: each gets the main point right.",
}


class Command(BaseCommand):
    help = "Writes docs/examples/: one export of the demo in every format (run on a throwaway database)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, default=Path("docs/examples"), help="Folder of the examples.")
        parser.add_argument("--force", action="store_true", help="Run even if the demo already has real judgements.")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=PROJECT_SLUG).first()
        if project is None:
            raise CommandError("No demo project: run manage.py load_demo first (on a throwaway database).")
        real = Judgement.objects.filter(stream__project=project).exclude(source=Judgement.Source.SIMULATED)
        if real.exists() and not options["force"]:
            raise CommandError(
                "The demo project already has judgements that are not simulated: this is not a fresh demo "
                "database. Use `make examples` (a temporary database), or --force."
            )
        streams = {s.slug: s for s in project.streams.all()}
        with transaction.atomic():
            self._script(streams)
        out: Path = options["out"]
        out.mkdir(parents=True, exist_ok=True)
        for directory, fmt, slugs, extra in EXAMPLES:
            spec = exporting.ExportSpec(
                stream_ids=tuple(streams[slug].pk for slug in slugs), format=fmt, licence=LICENCE, **extra
            )
            target = out / directory
            with tempfile.TemporaryDirectory() as tmp:
                manifest = exporting.write_export(spec, Path(tmp), created_by="export_examples")
                if target.exists():
                    shutil.rmtree(target)
                target.mkdir()
                for name in sorted(p.name for p in Path(tmp).iterdir()):
                    if name == exporting.ITEMS_INDEX_NAME:
                        continue
                    source = Path(tmp) / name
                    if name.endswith(".jsonl"):
                        lines = source.read_bytes().splitlines(keepends=True)
                        (target / name).write_bytes(b"".join(lines[:ROWS]))
                    else:
                        shutil.copyfile(source, target / name)
            rows = manifest["counts"]["rows"]
            self.stdout.write(f"{directory:<20} {fmt:<20} rows {rows} (files cut at {ROWS} rows)")

    def _script(self, streams: dict[str, Stream]) -> None:
        rng = random.Random(15)
        annotators = [User.objects.get(username=f"annotator{n}") for n in (1, 2, 3)]
        vicuna, koala, harmless = streams["vicuna"], streams["koala"], streams["harmlessness"]
        vicuna.rubric = RUBRIC
        vicuna.save(update_fields=["rubric"])
        # Task kinds and their settings when this version has them (projects.Stream).
        for stream, kind, field, values in (
            (harmless, "helpful_safe", "harm_categories", HARM),
            (koala, "attribute_pairwise", "attributes", ATTRIBUTES),
        ):
            if hasattr(stream, field):
                setattr(stream, field, values)
                stream.task_kind = kind
                stream.save(update_fields=[field, "task_kind"])
        plan = {"oasst": 10, "harmlessness": 8, "vicuna": 6, "koala": 8}
        for slug, count in plan.items():
            stream = streams[slug]
            items = (
                Item.objects.filter(stream=stream, pool=Item.Pool.WORK, is_golden=False, claim_count=0)
                .exclude(judgements__isnull=False)
                .order_by("id")[:count]
            )
            for item in items:
                truth = golden.prior_answer(item.prior_label) or rng.choice("AB")
                for user in annotators:
                    self._judge(rng, stream, item, user, truth)

    def _judge(self, rng: random.Random, stream: Stream, item: Item, user: Any, truth: str) -> None:
        roll = rng.random()
        choice = truth if roll < 0.8 else "tie" if roll < 0.88 else "both_bad" if roll < 0.92 else "AB"[truth == "A"]
        strength = rng.choice([1, 2, 3]) if choice in ("A", "B") else None
        fields: dict[str, Any] = {"choice": choice, "strength": strength}
        if stream.slug == "vicuna":
            better = {"A": 0, "B": 1}.get(choice)
            lean = [0 if better is None else 1 if better == k else -1 for k in (0, 1)]
            fields["rubric"] = {
                name: [max(0, min(4, 2 + lean[k] + rng.choice([-1, 0, 0, 1]))) for k in (0, 1)] for name in RUBRIC
            }
        elif stream.slug == "harmlessness":
            helpful = choice if choice in ("A", "B", "tie") else "tie"
            fields["choice"] = helpful
            fields["strength"] = strength if helpful in ("A", "B") else None
            # The preferred (HH-RLHF "chosen") reply is the safer one; the other is unsafe now and then.
            unsafe = 1 - "AB".index(truth) if truth in ("A", "B") else 1
            flagged = rng.random() < 0.5
            safe = [True, True]
            harm: list[str | None] = [None, None]
            if flagged:
                safe[unsafe] = False
                harm[unsafe] = rng.choice(HARM[:3])
            fields["axes"] = {"helpful": helpful, "safer": truth if rng.random() < 0.85 else helpful, "safe": safe,
                              "harm": harm}  # fmt: skip
        elif stream.slug == "koala":
            attributes = dict.fromkeys(ATTRIBUTES, choice if choice in ("A", "B", "tie") else "tie")
            attributes["style"] = rng.choice(["A", "B", "tie"])
            fields["choice"] = attributes[ATTRIBUTES[0]]
            fields["strength"] = strength if fields["choice"] in ("A", "B") else None
            fields["axes"] = {"attributes": attributes}
            fields["rationale"] = WHY[fields["choice"]]
        now = timezone.now() - timedelta(hours=rng.randint(1, 48))
        order = [0, 1] if rng.random() < 0.5 else [1, 0]
        record_judgement(
            stream=stream,
            item=item,
            annotator=user,
            order=order,
            served=now - timedelta(seconds=60),
            submitted=now,
            key="example",
            active_seconds=rng.uniform(20, 90),
            source=Judgement.Source.API,
            **fields,
        )
        n = item.judgements.filter(counted=True).count()
        Item.objects.filter(pk=item.pk).update(judgement_count=n, claim_count=n, is_open=n < stream.overlap)
