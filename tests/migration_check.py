"""Run in a subprocess by ``tests/test_migrations.py`` against an empty database (``DATABASE_URL``):
migrates to the schema of the three-app layout, fills every model that later moved rooms through
the historical models, migrates to today's layout and reads every row back through today's models.
Prints one JSON line with what it checked; exits non-zero on any mismatch."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
django.setup()

from django.db import connection  # noqa: E402
from django.db.migrations.executor import MigrationExecutor  # noqa: E402
from django.utils import timezone  # noqa: E402

# The last migrations of the layout before the rooms were split (projects, annotation, qc).
BEFORE = [
    ("projects", "0003_qualification_attempts_and_actions"),
    ("annotation", "0009_fewer_write_indexes"),
    ("qc", "0002_review_alert_export_checks"),
]


def fill(apps: Any) -> dict[str, int]:
    get = apps.get_model
    now = timezone.now()
    user = get("auth", "User").objects.create(username="pm")
    project = get("projects", "Project").objects.create(slug="p", name="P")
    stream = get("projects", "Stream").objects.create(project=project, slug="s", name="S", mode="dynamic")
    endpoint = get("projects", "ModelEndpoint").objects.create(
        project=project, name="m1", base_url="http://127.0.0.1:9/v1", model="m"
    )
    get("projects", "StreamEndpoint").objects.create(stream=stream, endpoint=endpoint, weight=2.0)
    batch = get("projects", "ImportBatch").objects.create(stream=stream, filename="f.jsonl", format="trl")
    item = get("annotation", "Item").objects.create(
        stream=stream, external_id="i1", responses=[{"text": "a"}, {"text": "b"}], content_hash="h", import_batch=batch
    )
    test = get("projects", "QualificationTest").objects.create(stream=stream, pass_mark=0.6)
    question = get("projects", "QualificationQuestion").objects.create(test=test, item=item, acceptable_answers=["A"])
    attempt = get("projects", "QualificationAttempt").objects.create(test=test, user=user, number=1, submitted_at=now)
    get("projects", "QualificationAnswer").objects.create(attempt=attempt, question=question, answer="A", correct=True)
    conversation = get("annotation", "Conversation").objects.create(stream=stream, annotator=user)
    get("annotation", "ConversationCandidate").objects.create(conversation=conversation, position=0, endpoint=endpoint)
    turn = get("annotation", "Turn").objects.create(conversation=conversation, index=0, user_message="hi", item=item)
    get("annotation", "Generation").objects.create(turn=turn, position=0, endpoint=endpoint, text="hello")
    export = get("qc", "Export").objects.create(project=project, format="trl", created_by=user)
    export.streams.add(stream)
    return {"stream": stream.pk, "item": item.pk, "endpoint": endpoint.pk, "export": export.pk, "turn": turn.pk}


def main() -> int:
    executor = MigrationExecutor(connection)
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] in ("auth", "contenttypes")]
    executor.migrate(BEFORE + others)
    ids = fill(MigrationExecutor(connection).loader.project_state(BEFORE + others).apps)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    from annotation.models import ImportBatch, Item
    from dynamic.models import Conversation, ConversationCandidate, Generation, ModelEndpoint, StreamEndpoint, Turn
    from exports.models import Export
    from projects.models import Stream
    from qualification.models import QualificationAnswer, QualificationAttempt, QualificationQuestion, QualificationTest

    stream = Stream.objects.get(pk=ids["stream"])
    item = Item.objects.select_related("import_batch").get(pk=ids["item"])
    problems = []
    if [e.pk for e in stream.endpoints.all()] != [ids["endpoint"]]:
        problems.append("stream.endpoints lost its endpoint")
    if StreamEndpoint.objects.get(stream=stream).weight != 2.0:
        problems.append("stream endpoint weight")
    if not isinstance(item.import_batch, ImportBatch) or item.import_batch.filename != "f.jsonl":
        problems.append("item.import_batch")
    if stream.qualification_test.questions.get().item_id != item.pk:
        problems.append("qualification question")
    if QualificationAnswer.objects.get().attempt.test.stream_id != stream.pk:
        problems.append("qualification answer")
    if Turn.objects.get(pk=ids["turn"]).item_id != item.pk or Generation.objects.get().text != "hello":
        problems.append("turn/generation")
    if ConversationCandidate.objects.get().endpoint_id != ids["endpoint"]:
        problems.append("conversation candidate")
    if list(Export.objects.get(pk=ids["export"]).streams.values_list("pk", flat=True)) != [stream.pk]:
        problems.append("export streams")
    counts = {
        model.__name__: model.objects.count()
        for model in (
            ModelEndpoint,
            StreamEndpoint,
            ImportBatch,
            QualificationTest,
            QualificationQuestion,
            QualificationAttempt,
            QualificationAnswer,
            Conversation,
            ConversationCandidate,
            Turn,
            Generation,
            Export,
        )
    }
    problems += [f"{name}: {n} rows, expected 1" for name, n in counts.items() if n != 1]
    print(json.dumps({"vendor": connection.vendor, "counts": counts, "problems": problems}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
