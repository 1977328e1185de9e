"""Every invariant of the domain model is a database constraint: the database refuses the bad row
whatever code path writes it. Runs on PostgreSQL and on SQLite.

Check constraints are asserted by name (both databases name them in the error); unique
constraints only by the IntegrityError, since SQLite reports the columns instead of the name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from annotation.models import Assignment, ImportBatch, Item, Judgement
from dynamic.models import Conversation, ConversationCandidate, Generation, ModelEndpoint, StreamEndpoint, Turn
from exports.models import Export
from projects.models import ApiToken
from qc.models import Alert, MetricSnapshot, Review, ReviewTask
from qualification.models import QualificationAnswer, QualificationAttempt, QualificationQuestion, QualificationTest
from tests.factories import (
    AssignmentFactory,
    ItemFactory,
    JudgementFactory,
    MembershipFactory,
    ProjectFactory,
    StreamFactory,
    StreamMembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def assert_refused(create: Callable[[], Any], constraint: str | None = None) -> None:
    """``create`` raises IntegrityError (naming ``constraint`` when given) and leaves the test's
    transaction usable."""
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        create()


# --- projects ---------------------------------------------------------------------------------
def test_it_keeps_project_slugs_unique() -> None:
    ProjectFactory.create(slug="support")
    assert_refused(lambda: ProjectFactory.create(slug="support"))


def test_it_allows_one_membership_per_user_and_project() -> None:
    membership = MembershipFactory.create()
    assert_refused(lambda: MembershipFactory.create(project=membership.project, user=membership.user, role="pm"))
    MembershipFactory.create(user=membership.user)  # another project is fine


def test_it_refuses_an_unknown_role() -> None:
    assert_refused(lambda: MembershipFactory.create(role="owner"), "membership_role_valid")


def test_it_keeps_stream_slugs_unique_within_a_project() -> None:
    stream = StreamFactory.create(slug="helpfulness")
    assert_refused(lambda: StreamFactory.create(project=stream.project, slug="helpfulness"))
    StreamFactory.create(slug="helpfulness")  # another project is fine


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"overlap": 0}, "stream_overlap_positive"),
        ({"golden_rate": -0.01}, "stream_golden_rate_0_1"),
        ({"golden_rate": 1.01}, "stream_golden_rate_0_1"),
        ({"review_rate": 2.0}, "stream_review_rate_0_1"),
        ({"task_kind": "essay"}, "stream_task_kind_valid"),
        ({"mode": "hybrid"}, "stream_mode_valid"),
        ({"status": "archived"}, "stream_status_valid"),
        ({"order": "random"}, "stream_order_valid"),
        ({"lease_minutes": 0}, "stream_lease_minutes_positive"),
        ({"adaptive_overlap": True, "overlap": 3, "adaptive_min_agree": 4}, "stream_adaptive_min_agree_within_overlap"),
        ({"adaptive_min_agree": 0}, "stream_adaptive_min_agree_within_overlap"),
        ({"min_gold_accuracy": 1.5}, "stream_min_gold_accuracy_0_1"),
        ({"min_agreement": -1.5}, "stream_min_agreement_range"),
        ({"min_seconds": -1.0}, "stream_min_seconds_nonneg"),
    ],
)
def test_it_refuses_an_invalid_stream(fields: dict[str, Any], constraint: str) -> None:
    assert_refused(lambda: StreamFactory.create(**fields), constraint)


def test_it_accepts_the_limits_of_stream_ranges() -> None:
    StreamFactory.create(overlap=1, golden_rate=0.0, review_rate=1.0, min_agreement=-1.0, min_seconds=0.0)
    StreamFactory.create(golden_rate=1.0, adaptive_overlap=True, overlap=2, adaptive_min_agree=2)
    # Without adaptive overlap, the stop-early count is not used and may exceed the overlap.
    StreamFactory.create(overlap=1, adaptive_min_agree=2)


def test_it_allows_one_stream_membership_per_user_and_stream() -> None:
    sm = StreamMembershipFactory.create()
    assert_refused(lambda: StreamMembershipFactory.create(stream=sm.stream, user=sm.user))


def test_it_refuses_an_unknown_stream_membership_status() -> None:
    assert_refused(lambda: StreamMembershipFactory.create(status="banned"), "stream_membership_status_valid")


def test_it_allows_one_qualification_test_per_stream() -> None:
    stream = StreamFactory.create()
    QualificationTest.objects.create(stream=stream)
    assert_refused(lambda: QualificationTest.objects.create(stream=stream))


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"pass_mark": 1.1}, "qtest_pass_mark_0_1"),
        ({"pass_mark": -0.1}, "qtest_pass_mark_0_1"),
        ({"max_attempts": 0}, "qtest_max_attempts_positive"),
        ({"cooldown_hours": -1.0}, "qtest_cooldown_nonneg"),
    ],
)
def test_it_refuses_an_invalid_qualification_test(fields: dict[str, Any], constraint: str) -> None:
    stream = StreamFactory.create()
    assert_refused(lambda: QualificationTest.objects.create(stream=stream, **fields), constraint)


def test_it_asks_each_qualification_question_once_per_test() -> None:
    test = QualificationTest.objects.create(stream=StreamFactory.create())
    item = ItemFactory.create(stream=test.stream, pool=Item.Pool.QUALIFICATION)
    QualificationQuestion.objects.create(test=test, item=item, acceptable_answers=["A"])
    assert_refused(lambda: QualificationQuestion.objects.create(test=test, item=item, acceptable_answers=["B"]))


def test_it_numbers_attempts_uniquely_from_one() -> None:
    test = QualificationTest.objects.create(stream=StreamFactory.create())
    user = UserFactory.create()
    QualificationAttempt.objects.create(test=test, user=user, number=1)
    assert_refused(lambda: QualificationAttempt.objects.create(test=test, user=user, number=1))
    assert_refused(
        lambda: QualificationAttempt.objects.create(test=test, user=user, number=0), "qattempt_number_positive"
    )
    assert_refused(
        lambda: QualificationAttempt.objects.create(test=test, user=user, number=2, score=1.5), "qattempt_score_0_1"
    )


def test_it_stores_one_answer_per_question_and_attempt() -> None:
    test = QualificationTest.objects.create(stream=StreamFactory.create())
    question = QualificationQuestion.objects.create(test=test, item=ItemFactory.create(stream=test.stream))
    attempt = QualificationAttempt.objects.create(test=test, user=UserFactory.create(), number=1)
    QualificationAnswer.objects.create(attempt=attempt, question=question, answer="A", correct=True)
    assert_refused(
        lambda: QualificationAnswer.objects.create(attempt=attempt, question=question, answer="B", correct=False)
    )


def test_it_names_endpoints_uniquely_and_links_them_once() -> None:
    stream = StreamFactory.create()
    endpoint = ModelEndpoint.objects.create(
        project=stream.project, name="m1", base_url="https://llm.example.org/v1", model="m"
    )
    assert_refused(
        lambda: ModelEndpoint.objects.create(
            project=stream.project, name="m1", base_url="https://other.example.org/v1", model="m"
        )
    )
    StreamEndpoint.objects.create(stream=stream, endpoint=endpoint)
    assert_refused(lambda: StreamEndpoint.objects.create(stream=stream, endpoint=endpoint))
    other = StreamFactory.create(project=stream.project)
    assert_refused(
        lambda: StreamEndpoint.objects.create(stream=other, endpoint=endpoint, weight=-1.0),
        "stream_endpoint_weight_nonneg",
    )


def test_it_refuses_an_unknown_import_status() -> None:
    stream = StreamFactory.create()
    assert_refused(
        lambda: ImportBatch.objects.create(stream=stream, filename="x.jsonl", format="native", status="paused"),
        "import_batch_status_valid",
    )


def test_it_keeps_api_token_hashes_unique() -> None:
    user = UserFactory.create()
    ApiToken.objects.create(user=user, key_hash="0" * 64, key_prefix="qrm_0")
    assert_refused(lambda: ApiToken.objects.create(user=user, key_hash="0" * 64, key_prefix="qrm_1"))


# --- annotation: items ------------------------------------------------------------------------
def test_it_allows_one_external_id_per_stream() -> None:
    item = ItemFactory.create(external_id="row-1")
    assert_refused(lambda: ItemFactory.create(stream=item.stream, external_id="row-1"))
    ItemFactory.create(external_id="row-1")  # another stream is fine


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"num_responses": 1}, "item_at_least_two_responses"),
        ({"pool": "archive"}, "item_pool_valid"),
        ({"judgement_count": 2, "claim_count": 1}, "item_claims_cover_judgements"),
        ({"external_id": ""}, "item_external_id_not_empty"),
        ({"is_golden": True, "golden_answers": []}, "item_golden_has_answers"),
    ],
)
def test_it_refuses_an_invalid_item(fields: dict[str, Any], constraint: str) -> None:
    assert_refused(lambda: ItemFactory.create(**fields), constraint)


def test_it_accepts_a_golden_item_with_answers_and_a_ranking_item() -> None:
    ItemFactory.create(is_golden=True, golden_answers=["A", "tie"])
    ItemFactory.create(num_responses=4, judgement_count=2, claim_count=3)


# --- annotation: assignments and judgements ---------------------------------------------------
def test_it_allows_one_assignment_per_annotator_and_item() -> None:
    assignment = AssignmentFactory.create(status=Assignment.Status.EXPIRED)
    assert_refused(
        lambda: AssignmentFactory.create(
            item=assignment.item, annotator=assignment.annotator, status=Assignment.Status.SUBMITTED
        )
    )
    AssignmentFactory.create(item=assignment.item)  # another annotator is fine


def test_it_allows_one_live_lease_per_annotator_and_stream() -> None:
    assignment = AssignmentFactory.create()
    item = ItemFactory.create(stream=assignment.stream)
    assert_refused(lambda: AssignmentFactory.create(item=item, annotator=assignment.annotator))
    AssignmentFactory.create(item=item, annotator=assignment.annotator, status=Assignment.Status.SUBMITTED)


def test_it_refuses_an_unknown_assignment_status() -> None:
    assert_refused(lambda: AssignmentFactory.create(status="lost"), "assignment_status_valid")


def test_it_allows_one_current_judgement_per_assignment() -> None:
    first = JudgementFactory.create()
    assert_refused(lambda: JudgementFactory.create(assignment=first.assignment, choice="B"))
    # A correction: the old row stops being current, the new one supersedes it.
    first.is_current = False
    first.save(update_fields=["is_current"])
    JudgementFactory.create(assignment=first.assignment, choice="B", supersedes=first)
    assert Judgement.objects.filter(assignment=first.assignment).count() == 2
    assert Judgement.objects.filter(assignment=first.assignment, is_current=True).count() == 1


def test_it_keeps_a_superseding_row_that_is_not_current() -> None:
    current = JudgementFactory.create()
    JudgementFactory.create(assignment=current.assignment, is_current=False)


def test_it_supersedes_a_judgement_only_once() -> None:
    old = JudgementFactory.create(is_current=False)
    JudgementFactory.create(assignment=old.assignment, supersedes=old)
    assert_refused(lambda: JudgementFactory.create(assignment=old.assignment, supersedes=old, is_current=False))


def test_it_refuses_a_judgement_that_supersedes_itself() -> None:
    judgement = JudgementFactory.create()

    def supersede_itself() -> None:
        Judgement.objects.filter(pk=judgement.pk).update(supersedes=judgement.pk)

    assert_refused(supersede_itself, "judgement_not_superseding_itself")


def test_it_keeps_idempotency_keys_unique() -> None:
    JudgementFactory.create(idempotency_key="submit-1")
    assert_refused(lambda: JudgementFactory.create(idempotency_key="submit-1"))


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"choice": "C"}, "judgement_choice_valid"),
        ({"choice": "A", "strength": 0}, "judgement_strength_1_3"),
        ({"choice": "A", "strength": 4}, "judgement_strength_1_3"),
        ({"choice": None, "ranking": None}, "judgement_has_answer"),
        ({"choice": "A", "ranking": [[0], [1]]}, "judgement_one_answer_kind"),
        ({"choice": "tie", "strength": 1}, "judgement_strength_needs_a_or_b"),
        ({"choice": "both_bad", "strength": 2}, "judgement_strength_needs_a_or_b"),
        ({"choice": None, "ranking": [[0], [1, 2]], "strength": 2}, "judgement_strength_needs_a_or_b"),
        ({"active_seconds": -0.5}, "judgement_active_seconds_nonneg"),
    ],
)
def test_it_refuses_an_invalid_judgement(fields: dict[str, Any], constraint: str) -> None:
    assert_refused(lambda: JudgementFactory.create(**fields), constraint)


@pytest.mark.parametrize(
    "fields",
    [
        {"choice": "A", "strength": 1},
        {"choice": "B", "strength": 3},
        {"choice": "tie"},
        {"choice": "both_bad"},
        {"choice": None, "ranking": [[2], [0, 1]]},
    ],
)
def test_it_accepts_every_valid_answer(fields: dict[str, Any]) -> None:
    JudgementFactory.create(**fields)


# --- annotation: dynamic labeling -------------------------------------------------------------
def test_it_keeps_conversation_positions_and_turns_unique() -> None:
    stream = StreamFactory.create(mode="dynamic")
    e1, e2 = (
        ModelEndpoint.objects.create(project=stream.project, name=n, base_url="https://llm.example.org", model=n)
        for n in ("m1", "m2")
    )
    conversation = Conversation.objects.create(stream=stream, annotator=UserFactory.create())
    ConversationCandidate.objects.create(conversation=conversation, position=0, endpoint=e1)
    assert_refused(lambda: ConversationCandidate.objects.create(conversation=conversation, position=0, endpoint=e2))
    assert_refused(lambda: ConversationCandidate.objects.create(conversation=conversation, position=1, endpoint=e1))
    turn = Turn.objects.create(conversation=conversation, index=0, user_message="Hi")
    assert_refused(lambda: Turn.objects.create(conversation=conversation, index=0, user_message="Hello"))
    Generation.objects.create(turn=turn, position=0, endpoint=e1)
    assert_refused(lambda: Generation.objects.create(turn=turn, position=0, endpoint=e2))


# --- qc ---------------------------------------------------------------------------------------
def test_it_queues_a_judgement_for_review_once_per_reason() -> None:
    judgement = JudgementFactory.create()
    ReviewTask.objects.create(judgement=judgement, stream=judgement.stream, reason="sample")
    assert_refused(lambda: ReviewTask.objects.create(judgement=judgement, stream=judgement.stream, reason="sample"))
    ReviewTask.objects.create(judgement=judgement, stream=judgement.stream, reason="flag")
    assert_refused(
        lambda: ReviewTask.objects.create(judgement=judgement, stream=judgement.stream, reason="hunch"),
        "review_task_reason_valid",
    )
    assert_refused(
        lambda: ReviewTask.objects.create(judgement=judgement, stream=judgement.stream, reason="qc", reviews_wanted=0),
        "review_task_reviews_wanted_positive",
    )


def test_it_allows_one_review_per_reviewer_and_judgement() -> None:
    judgement, reviewer = JudgementFactory.create(), UserFactory.create()
    Review.objects.create(judgement=judgement, reviewer=reviewer, decision="accept")
    assert_refused(lambda: Review.objects.create(judgement=judgement, reviewer=reviewer, decision="reject", reason="x"))


def test_it_requires_a_reason_to_reject() -> None:
    judgement = JudgementFactory.create()
    assert_refused(
        lambda: Review.objects.create(judgement=judgement, reviewer=UserFactory.create(), decision="reject"),
        "review_reject_has_reason",
    )
    Review.objects.create(
        judgement=judgement, reviewer=UserFactory.create(), decision="reject", reason="Picked the unsafe one"
    )
    Review.objects.create(judgement=judgement, reviewer=UserFactory.create(), decision="accept")


def test_it_refuses_an_unknown_review_decision() -> None:
    judgement = JudgementFactory.create()
    assert_refused(
        lambda: Review.objects.create(judgement=judgement, reviewer=UserFactory.create(), decision="maybe", reason="?"),
        "review_decision_valid",
    )


def test_it_refuses_unknown_qc_enumerations() -> None:
    stream = StreamFactory.create()
    assert_refused(
        lambda: MetricSnapshot.objects.create(stream=stream, metric="gold_accuracy", window="week"),
        "snapshot_window_valid",
    )
    assert_refused(
        lambda: Alert.objects.create(stream=stream, kind="rushing", severity="fatal", message="m"),
        "alert_severity_valid",
    )
    assert_refused(
        lambda: Export.objects.create(project=stream.project, format="trl", status="queued"), "export_status_valid"
    )
    assert_refused(
        lambda: Export.objects.create(project=stream.project, format="trl", progress=1.5), "export_progress_0_1"
    )
