"""A project holding one of every kind of object a URL can name, with every user-controlled text
field filled by the caller's ``text(field)``: distinctive markers for the IDOR matrix, XSS payloads
for the browser crawl. Objects are made through the real import, qualification and judging code
where one exists, so they look like what a user would have made."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.utils import timezone

from annotation.importing import import_items
from annotation.models import Assignment, ImportBatch, Item, Judgement
from dynamic.models import Conversation, ConversationCandidate, Generation, ModelEndpoint, StreamEndpoint, Turn
from exports.models import Export
from exports.services import export_dir
from judging import services as judging_services
from judging.models import JudgeRun, Verdict
from projects.models import (
    AnnotatorProfile,
    ApiToken,
    GuidelineVersion,
    Membership,
    Project,
    Role,
    Stream,
    StreamMembership,
)
from qc import calibration
from qc.models import Alert, CalibrationItem, CalibrationRound, GalleryExample, Review, ReviewTask
from qualification import services as qualification
from tests.factories import UserFactory

Text = Callable[[str], str]

# Every user-controlled text field the world fills, by the name ``text`` receives.
FIELDS = (
    "project.name",
    "project.description",
    "stream.name",
    "stream.guidelines",
    "dynamic_stream.name",
    "dynamic_stream.guidelines",
    "item.prompt",
    "item.system",
    "item.response_a",
    "item.response_b",
    "item.model",
    "item.metadata",
    "item.response_metadata",
    "item.golden_explanation",
    "batch.filename",
    "batch.invalid_line",
    "question.prompt",
    "question.explanation",
    "judgement.rationale",
    "review.note",
    "review.reason",
    "alert.message",
    "alert.action",
    "endpoint.name",
    "endpoint.model",
    "endpoint.system_prompt",
    "turn.user_message",
    "turn.response_a",
    "turn.response_b",
    "profile.education",
    "guideline.change_note",
    "gallery.note",
    "profile.profession",
    "profile.notes",
    "profile.domain",
    "token.name",
    "export.error",
    "verdict.reason",
    "verdict.reason_swapped",
    "judge_run.error",
    "calibration.title",
    "calibration.explanation",
    "calibration.rationale",
)
# The fields above that hold at most so many characters (the rest are unbounded text or JSON).
LIMITS = {
    "project.name": 200,
    "stream.name": 200,
    "dynamic_stream.name": 200,
    "item.model": 200,
    "batch.filename": 200,
    "review.note": 500,
    "review.reason": 500,
    "alert.action": 200,
    "endpoint.name": 100,
    "endpoint.model": 200,
    "profile.education": 200,
    "profile.profession": 200,
    "profile.domain": 100,
    "token.name": 100,
    "calibration.title": 200,
}


@dataclass
class World:
    project: Project
    stream: Stream
    dynamic_stream: Stream
    pm: Any
    reviewer: Any
    owner: Any  # the annotator whose assignment, conversation, attempt and token these are
    peer: Any  # another annotator invited to both streams
    uninvited: Any  # an annotator of the project invited to no stream
    item: Item
    golden_item: Item
    assignment: Assignment
    judgement: Judgement
    review_task: ReviewTask
    alert: Alert
    export: Export
    failed_export: Export
    batch: ImportBatch
    question: Any  # QualificationQuestion
    attempt: Any  # QualificationAttempt
    conversation: Conversation
    turn: Turn
    endpoint: ModelEndpoint
    token: ApiToken
    owner_membership: Membership
    owner_stream_membership: StreamMembership
    calibration_round: CalibrationRound
    calibration_item: CalibrationItem
    texts: dict[str, str] = field(default_factory=dict)

    def members(self) -> dict[str, Any]:
        return {
            "pm": self.pm,
            "reviewer": self.reviewer,
            "owner": self.owner,
            "peer": self.peer,
            "uninvited": self.uninvited,
        }


def build_world(prefix: str, text: Text) -> World:
    """One project named by ``prefix`` (slug, usernames) with ``text(field)`` in every field of
    ``FIELDS``."""
    texts = {name: text(name) for name in FIELDS}
    t = texts.__getitem__
    project = Project.objects.create(
        slug=f"{prefix}-project", name=t("project.name")[:200], description=t("project.description")
    )
    users = {
        role: UserFactory.create(username=f"{prefix}-{role}")
        for role in ("pm", "reviewer", "owner", "peer", "uninvited")
    }
    memberships = {}
    for name, user in users.items():
        role = {"pm": Role.PM, "reviewer": Role.REVIEWER}.get(name, Role.ANNOTATOR)
        memberships[name] = Membership.objects.create(project=project, user=user, role=role)
    stream = Stream.objects.create(
        project=project,
        slug="static",
        name=t("stream.name")[:200],
        guidelines=t("stream.guidelines"),
        status=Stream.Status.ACTIVE,
        overlap=3,
        review_rate=0.0,
        golden_rate=0.0,
    )
    dynamic_stream = Stream.objects.create(
        project=project,
        slug="live",
        name=t("dynamic_stream.name")[:200],
        guidelines=t("dynamic_stream.guidelines"),
        status=Stream.Status.ACTIVE,
        mode=Stream.Mode.DYNAMIC,
        max_turns=3,
        overlap=1,
        review_rate=0.0,
    )
    # The static stream's guidelines in two versions (the second with a change note); its
    # annotators read the first, so the item page shows them the "guidelines changed" notice.
    GuidelineVersion.objects.create(stream=stream, number=1, text="")
    GuidelineVersion.objects.create(
        stream=stream, number=2, text=stream.guidelines, change_note=t("guideline.change_note")[:500]
    )
    Stream.objects.filter(pk=stream.pk).update(guideline_version=2)
    stream.guideline_version = 2
    GuidelineVersion.objects.create(stream=dynamic_stream, number=1, text=dynamic_stream.guidelines)
    stream_memberships = {}
    for name in ("owner", "peer"):
        for s in (stream, dynamic_stream):
            sm = StreamMembership.objects.create(
                stream=s, user=users[name], status=StreamMembership.Status.QUALIFIED, guidelines_acknowledged=1
            )
            if s == stream:
                stream_memberships[name] = sm

    # Items through the real importer: one work item, one golden item, one test question, and one
    # invalid line, so the batch has a report file.
    lines = [
        {
            "id": f"{prefix}-work",
            "context": [{"role": "system", "content": t("item.system")}, {"role": "user", "content": t("item.prompt")}],
            "responses": [
                {
                    "text": t("item.response_a"),
                    "model": t("item.model")[:200],
                    "metadata": {"note": t("item.response_metadata")},
                },
                {"text": t("item.response_b"), "model": "model-b"},
            ],
            "metadata": {"source": t("item.metadata"), "nested": {"deep": [t("item.metadata")]}},
        },
        {
            "id": f"{prefix}-golden",
            "prompt": t("item.prompt"),
            "responses": [t("item.response_a"), t("item.response_b")],
            "golden": {"answers": ["A"], "explanation": t("item.golden_explanation")},
        },
        {
            "id": f"{prefix}-question",
            "prompt": t("question.prompt"),
            "responses": ["right", "wrong"],
            "pool": "qualification",
        },
        {"id": f"{prefix}-invalid", "prompt": t("batch.invalid_line")},  # no responses: reported, not imported
    ]
    payload = "".join(json.dumps(line) + "\n" for line in lines).encode()
    report = import_items(
        stream=stream,
        source=io.BytesIO(payload),
        filename=(t("batch.filename")[:200] + ".jsonl"),
        skip_invalid=True,
        created_by=users["pm"],
    )
    assert report.invalid == 1, report.to_json()
    assert report.created == 3, report.to_json()
    batch = ImportBatch.objects.filter(stream=stream).latest("pk")
    if not batch.created_by_id:
        batch.created_by = users["pm"]
        batch.save(update_fields=["created_by"])
    item = Item.objects.get(stream=stream, external_id=f"{prefix}-work")
    golden_item = Item.objects.get(stream=stream, external_id=f"{prefix}-golden")
    question_item = Item.objects.get(stream=stream, external_id=f"{prefix}-question")

    # A real attempt by the owner (invited, then testing, then qualified by passing), so the
    # result page shows the question and its explanation.
    test = qualification.get_or_create_test(stream=stream, max_attempts=2, pass_mark=0.5, cooldown_hours=0.0)
    question = qualification.add_question(
        test=test, item=question_item, answers=["A"], explanation=t("question.explanation")
    )
    owner_sm = StreamMembership.objects.get(stream=stream, user=users["owner"])
    owner_sm.status = StreamMembership.Status.INVITED
    owner_sm.save(update_fields=["status"])
    attempt = qualification.start_attempt(stream=stream, user=users["owner"])
    for entry in attempt.question_order:
        qualification.answer_question(attempt=attempt, question_id=entry["question"], answer="A")
    attempt.refresh_from_db()
    owner_sm.refresh_from_db()
    assert attempt.passed, attempt.score
    assert owner_sm.status == StreamMembership.Status.QUALIFIED, owner_sm.status
    now = timezone.now()

    assignment = Assignment.objects.create(
        item=item,
        stream=stream,
        annotator=users["owner"],
        display_order=[1, 0],
        lease_expires_at=now + timedelta(minutes=30),
    )
    judged = Assignment.objects.create(
        item=item,
        stream=stream,
        annotator=users["peer"],
        display_order=[0, 1],
        lease_expires_at=now,
        status=Assignment.Status.SUBMITTED,
    )
    judgement = Judgement.objects.create(
        assignment=judged,
        item=item,
        stream=stream,
        annotator=users["peer"],
        choice="A",
        display_order=[0, 1],
        served_at=now - timedelta(seconds=30),
        rationale=t("judgement.rationale"),
        idempotency_key=f"{prefix}-judgement",
    )
    GalleryExample.objects.create(
        judgement=judgement, stream=stream, kind="exemplary", note=t("gallery.note"), marked_by=users["reviewer"]
    )
    review_task = ReviewTask.objects.create(
        judgement=judgement, stream=stream, reason=ReviewTask.Reason.PM, note=t("review.note")[:500]
    )
    Review.objects.create(judgement=judgement, reviewer=users["pm"], decision="accept", reason=t("review.reason")[:500])
    alert = Alert.objects.create(
        stream=stream,
        annotator=users["peer"],
        kind="gold_accuracy_low",
        message=t("alert.message"),
        action_taken=t("alert.action")[:200],
    )

    export = Export.objects.create(
        project=project, format="trl", status="done", progress=1.0, created_by=users["pm"], finished_at=now
    )
    export.streams.add(stream)
    folder = export_dir(export)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.jsonl").write_text(json.dumps({"prompt": t("item.prompt")}) + "\n")
    (folder / "manifest.json").write_text(json.dumps({"project": t("project.name")}))
    export.files = [{"name": "train.jsonl", "role": "data", "rows": 1, "sha256": "0" * 64}]
    export.save(update_fields=["files"])
    failed_export = Export.objects.create(
        project=project, format="raw", status="failed", error=t("export.error"), created_by=users["pm"], finished_at=now
    )
    failed_export.streams.add(stream)

    endpoint = ModelEndpoint.objects.create(
        project=project,
        name=t("endpoint.name")[:100],
        base_url="https://models.example.org/v1",
        model=t("endpoint.model")[:200],
        system_prompt=t("endpoint.system_prompt"),
    )
    second = ModelEndpoint.objects.create(
        project=project, name=f"{prefix}-second", base_url="https://models.example.org/v1", model="m2"
    )
    for ep in (endpoint, second):
        StreamEndpoint.objects.create(stream=dynamic_stream, endpoint=ep)
    conversation = Conversation.objects.create(stream=dynamic_stream, annotator=users["owner"], display_order=[0, 1])
    for position, ep in enumerate((endpoint, second)):
        ConversationCandidate.objects.create(conversation=conversation, position=position, endpoint=ep)
    turn = Turn.objects.create(
        conversation=conversation, index=0, user_message=t("turn.user_message"), status=Turn.Status.READY, ready_at=now
    )
    for position, (ep, name) in enumerate(((endpoint, "turn.response_a"), (second, "turn.response_b"))):
        Generation.objects.create(
            turn=turn, position=position, endpoint=ep, status=Generation.Status.DONE, text=t(name)
        )

    AnnotatorProfile.objects.create(
        user=users["owner"],
        education=t("profile.education")[:200],
        profession=t("profile.profession")[:200],
        notes=t("profile.notes"),
        domains=[t("profile.domain")[:100]],
    )
    token, _key = ApiToken.generate(user=users["owner"], name=t("token.name")[:100])

    # A model judge on the static stream: its reasons and errors are model text.
    judge = judging_services.attach_judge(stream=stream, endpoint=endpoint, created_by=users["pm"])
    judge_run = JudgeRun.objects.create(
        judge=judge, status=JudgeRun.Status.RUNNING, last_error=t("judge_run.error")[:500],
        last_error_detail=t("judge_run.error"), heartbeat_at=now, started_at=now,
    )  # fmt: skip
    Verdict.objects.create(
        judge=judge, item=item, run=judge_run, status=Verdict.Status.CONSISTENT, answer_shown_ab="A",
        answer_shown_ba="A", reason_shown_ab=t("verdict.reason"), reason_shown_ba=t("verdict.reason"),
    )  # fmt: skip
    Verdict.objects.create(
        judge=judge, item=golden_item, run=judge_run, status=Verdict.Status.INCONSISTENT, answer_shown_ab="A",
        answer_shown_ba="B", reason_shown_ab=t("verdict.reason"), reason_shown_ba=t("verdict.reason_swapped"),
    )  # fmt: skip
    # An open calibration round on the work item: the peer answered (with a rationale), the PM
    # set the expected answer; the owner has not answered yet (the judging page has an item).
    calibration_round = calibration.open_round(
        stream=stream,
        title=t("calibration.title")[:200],
        deadline=now + timedelta(days=2),
        item_ids=[item.pk],
        created_by=users["pm"],
    )
    calibration_item = calibration_round.items.get()
    calibration.set_expected(round_item=calibration_item, expected_answer="A", explanation=t("calibration.explanation"))
    served = calibration.next_for(round_=calibration_round, annotator=users["peer"])
    assert served is not None
    calibration.submit_answer(
        answer=served,
        idempotency_key=served.idempotency_key,
        choice="A",
        strength=2,
        rationale=t("calibration.rationale"),
    )
    return World(
        project=project,
        stream=stream,
        dynamic_stream=dynamic_stream,
        pm=users["pm"],
        reviewer=users["reviewer"],
        owner=users["owner"],
        peer=users["peer"],
        uninvited=users["uninvited"],
        item=item,
        golden_item=golden_item,
        assignment=assignment,
        judgement=judgement,
        review_task=review_task,
        alert=alert,
        export=export,
        failed_export=failed_export,
        batch=batch,
        question=question,
        attempt=attempt,
        conversation=conversation,
        turn=turn,
        endpoint=endpoint,
        token=token,
        owner_membership=memberships["owner"],
        owner_stream_membership=stream_memberships["owner"],
        calibration_round=calibration_round,
        calibration_item=calibration_item,
        texts=texts,
    )
