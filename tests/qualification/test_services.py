"""Qualification services: the membership state machine, scoring, cool-down, time limit, PM actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from annotation import selectors as annotation_selectors
from projects import services as project_services
from projects.models import StreamMembership, StreamMembershipEvent
from qualification import selectors, services, tasks
from qualification.models import QualificationAnswer, QualificationAttempt
from tests.annotation.conftest import make_annotator
from tests.factories import StreamFactory, UserFactory
from tests.qualification.helpers import answer_all, make_test

pytestmark = pytest.mark.django_db

Status = StreamMembership.Status
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def stream() -> Any:
    return StreamFactory()


def membership(stream: Any, user: Any) -> StreamMembership:
    return StreamMembership.objects.get(stream=stream, user=user)


# --- The state machine ----------------------------------------------------------------------------
ALL = [s.value for s in Status]
ALLOWED = {(src, dst) for src, targets in StreamMembership.TRANSITIONS.items() for dst in targets}


@pytest.mark.parametrize("src", ALL)
@pytest.mark.parametrize("dst", ALL)
def test_it_allows_exactly_the_state_machines_moves(stream: Any, src: str, dst: str) -> None:
    user = make_annotator(stream, status=src)
    sm = membership(stream, user)
    actor = UserFactory()
    if (src, dst) in ALLOWED:
        project_services.transition_stream_membership(stream_membership=sm, to_status=dst, actor=actor, reason="why")
        sm.refresh_from_db()
        assert sm.status == dst
        event = StreamMembershipEvent.objects.get(stream_membership=sm)
        assert (event.from_status, event.to_status, event.actor, event.reason) == (src, dst, actor, "why")
    else:
        with pytest.raises(project_services.TransitionError):
            project_services.transition_stream_membership(stream_membership=sm, to_status=dst, actor=actor)
        sm.refresh_from_db()
        assert sm.status == src
        assert not StreamMembershipEvent.objects.filter(stream_membership=sm).exists()


def test_the_forbidden_moves_include_the_shortcuts_that_matter() -> None:
    # Nobody skips the test by a status change, comes back from removed as qualified, or resumes
    # into testing.
    for forbidden in [
        ("invited", "failed"),
        ("testing", "paused"),
        ("failed", "paused"),
        ("removed", "qualified"),
        ("paused", "testing"),
        ("qualified", "testing"),
    ]:
        assert forbidden not in ALLOWED


def test_it_walks_invited_testing_qualified_and_records_each_step(stream: Any) -> None:
    test = make_test(stream)
    user = make_annotator(stream, status=Status.INVITED)
    attempt = services.start_attempt(stream=stream, user=user)
    assert membership(stream, user).status == Status.TESTING
    answer_all(attempt, ["A", "A", "A"])
    assert membership(stream, user).status == Status.QUALIFIED
    events = list(StreamMembershipEvent.objects.filter(stream_membership__user=user).order_by("id"))
    assert [(e.from_status, e.to_status, e.action) for e in events] == [
        ("invited", "testing", "test_started"),
        ("testing", "qualified", "test_passed"),
    ]
    assert all(e.actor == user for e in events)
    assert "100%" in events[1].reason
    attempt.refresh_from_db()
    assert (attempt.score, attempt.passed, attempt.test) == (1.0, True, test)


def test_a_qualified_member_cannot_start_the_test_again(stream: Any) -> None:
    make_test(stream)
    user = make_annotator(stream, status=Status.QUALIFIED)
    with pytest.raises(services.QualificationError):
        services.start_attempt(stream=stream, user=user)
    assert not QualificationAttempt.objects.exists()


def test_a_stream_without_a_test_has_nothing_to_start(stream: Any) -> None:
    user = make_annotator(stream, status=Status.INVITED)
    with pytest.raises(services.QualificationError, match="no qualification test"):
        services.start_attempt(stream=stream, user=user)


# --- Scoring --------------------------------------------------------------------------------------
def test_any_answer_in_the_acceptable_set_is_right(stream: Any) -> None:
    make_test(stream, answers=[["A", "tie"], ["B"], ["tie", "both_bad"], ["A"]], pass_mark=0.75)
    user = make_annotator(stream, status=Status.INVITED)
    attempt = services.start_attempt(stream=stream, user=user)
    answer_all(attempt, ["tie", "B", "both_bad", "B"])
    attempt.refresh_from_db()
    correct = dict(QualificationAnswer.objects.filter(attempt=attempt).values_list("answer", "correct"))
    assert attempt.score == 0.75
    assert attempt.passed is True  # exactly at the pass mark passes
    assert correct["tie"] is True
    assert correct["both_bad"] is True


def test_a_tie_is_wrong_when_only_a_letter_is_acceptable(stream: Any) -> None:
    make_test(stream, answers=[["A"], ["A"]], pass_mark=0.5)
    user = make_annotator(stream, status=Status.INVITED)
    attempt = services.start_attempt(stream=stream, user=user)
    answer_all(attempt, ["tie", "tie"])
    attempt.refresh_from_db()
    assert attempt.score == 0.0
    assert attempt.passed is False
    assert membership(stream, user).status == Status.FAILED


def test_a_score_just_below_the_mark_fails(stream: Any) -> None:
    # 2 of 3 = 0.666... against a mark of 0.67
    make_test(stream, answers=[["A"], ["A"], ["A"]], pass_mark=0.67)
    user = make_annotator(stream, status=Status.INVITED)
    answer_all(services.start_attempt(stream=stream, user=user), ["A", "A", "B"])
    assert membership(stream, user).status == Status.FAILED


@pytest.mark.parametrize(
    ("answers", "ranking_top", "expected"),
    [
        ({"choice": "B"}, None, "B"),
        ({"ranking": [[2], [0, 1]]}, None, "C"),
        ({"ranking": [[0, 2], [1]]}, None, "tie"),
    ],
)
def test_a_ranking_answer_is_the_response_ranked_first(
    answers: dict[str, Any], ranking_top: None, expected: str
) -> None:
    assert services.answer_from_judgement(answers) == expected


def test_answering_twice_keeps_the_first_answer(stream: Any) -> None:
    make_test(stream, answers=[["A"], ["A"]])
    user = make_annotator(stream, status=Status.INVITED)
    attempt = services.start_attempt(stream=stream, user=user)
    first = attempt.question_order[0]["question"]
    services.answer_question(attempt=attempt, question_id=first, answer="B")
    services.answer_question(attempt=attempt, question_id=first, answer="A")
    assert list(QualificationAnswer.objects.filter(attempt=attempt).values_list("answer", flat=True)) == ["B"]


def test_each_attempt_draws_and_stores_an_order(stream: Any) -> None:
    make_test(stream, answers=[["A"]] * 6, shuffle_questions=True, shuffle_responses=True)
    user = make_annotator(stream, status=Status.INVITED)
    attempt = services.start_attempt(stream=stream, user=user)
    assert len(attempt.question_order) == 6
    assert all(sorted(entry["order"]) == [0, 1] for entry in attempt.question_order)
    # A reload returns the same attempt, with the same order.
    assert services.start_attempt(stream=stream, user=user).question_order == attempt.question_order


def test_without_shuffling_questions_and_responses_keep_their_order(stream: Any) -> None:
    test = make_test(stream, answers=[["A"]] * 4, shuffle_questions=False, shuffle_responses=False)
    user = make_annotator(stream, status=Status.INVITED)
    attempt = services.start_attempt(stream=stream, user=user)
    assert [e["question"] for e in attempt.question_order] == list(
        test.questions.order_by("position").values_list("pk", flat=True)
    )
    assert all(entry["order"] == [0, 1] for entry in attempt.question_order)


# --- Cool-down and time limit, with frozen time ---------------------------------------------------
def test_the_next_attempt_opens_after_the_cool_down(stream: Any) -> None:
    make_test(stream, cooldown_hours=24, max_attempts=3)
    user = make_annotator(stream, status=Status.INVITED)
    with time_machine.travel(T0, tick=False):
        answer_all(services.start_attempt(stream=stream, user=user), ["B", "B", "B"])
    assert membership(stream, user).status == Status.FAILED
    with time_machine.travel(T0 + timedelta(hours=23, minutes=59), tick=False):
        standing = selectors.standing_in_test(stream=stream, user=user)
        assert standing.opens_at == T0 + timedelta(hours=24)
        assert not standing.can_start
        with pytest.raises(services.QualificationError, match="opens at 2026-03-03 09:00"):
            services.start_attempt(stream=stream, user=user)
    with time_machine.travel(T0 + timedelta(hours=24), tick=False):
        assert selectors.standing_in_test(stream=stream, user=user).can_start
        second = services.start_attempt(stream=stream, user=user)
    assert second.number == 2
    assert membership(stream, user).status == Status.TESTING


def test_after_the_last_attempt_nothing_opens_until_a_pm_allows_another(stream: Any) -> None:
    make_test(stream, cooldown_hours=1, max_attempts=1)
    user = make_annotator(stream, status=Status.INVITED)
    pm = UserFactory()
    with time_machine.travel(T0, tick=False):
        answer_all(services.start_attempt(stream=stream, user=user), ["B", "B", "B"])
    with time_machine.travel(T0 + timedelta(days=30), tick=False):
        with pytest.raises(services.QualificationError, match="used every attempt"):
            services.start_attempt(stream=stream, user=user)
        services.apply_action(
            membership=membership(stream, user), action="allow_attempt", actor=pm, reason="new guidelines"
        )
        attempt = services.start_attempt(stream=stream, user=user)
    assert attempt.number == 2
    event = StreamMembershipEvent.objects.get(action="allow_attempt")
    assert (event.actor, event.reason, event.from_status, event.to_status) == (pm, "new guidelines", "failed", "failed")
    assert event.created_at == T0 + timedelta(days=30)


def test_allowing_another_attempt_lifts_the_cool_down(stream: Any) -> None:
    make_test(stream, cooldown_hours=48, max_attempts=2)
    user = make_annotator(stream, status=Status.INVITED)
    with time_machine.travel(T0, tick=False):
        answer_all(services.start_attempt(stream=stream, user=user), ["B", "B", "B"])
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        services.apply_action(
            membership=membership(stream, user), action="allow_attempt", actor=UserFactory(), reason="typo in Q2"
        )
        assert services.start_attempt(stream=stream, user=user).number == 2


def test_time_runs_out_and_unanswered_questions_count_as_wrong(stream: Any) -> None:
    make_test(stream, time_limit_minutes=10, pass_mark=0.5)
    user = make_annotator(stream, status=Status.INVITED)
    with time_machine.travel(T0, tick=False):
        attempt = services.start_attempt(stream=stream, user=user)
    assert attempt.deadline_at == T0 + timedelta(minutes=10)
    with time_machine.travel(T0 + timedelta(minutes=9), tick=False):
        services.answer_question(attempt=attempt, question_id=attempt.question_order[0]["question"], answer="A")
    with time_machine.travel(T0 + timedelta(minutes=10, seconds=1), tick=False):
        result = services.answer_question(
            attempt=attempt, question_id=attempt.question_order[1]["question"], answer="A"
        )
    assert result.finished
    attempt.refresh_from_db()
    assert QualificationAnswer.objects.filter(attempt=attempt).count() == 1  # the late answer is refused
    assert attempt.score == pytest.approx(1 / 3)
    assert attempt.passed is False
    assert attempt.submitted_at == T0 + timedelta(minutes=10)  # stamped at the deadline
    assert membership(stream, user).status == Status.FAILED


def test_an_abandoned_attempt_is_scored_when_anyone_looks_after_the_deadline(stream: Any) -> None:
    test = make_test(stream, time_limit_minutes=5)
    user = make_annotator(stream, status=Status.INVITED)
    with time_machine.travel(T0, tick=False):
        services.start_attempt(stream=stream, user=user)
    with time_machine.travel(T0 + timedelta(minutes=4), tick=False):
        assert selectors.candidate_rows(stream=stream, test=test)[0].membership.status == Status.TESTING
    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        rows = selectors.candidate_rows(stream=stream, test=test)
    assert rows[0].membership.status == Status.FAILED
    assert rows[0].attempts[0].score == 0.0


# --- Who gets items -------------------------------------------------------------------------------
def _standing(stream: Any, user: Any) -> Any:
    return annotation_selectors.streams_with_standing(user).get(pk=stream.pk)


def test_invited_members_get_items_only_while_the_stream_has_no_active_test(stream: Any) -> None:
    user = make_annotator(stream, status=Status.INVITED)
    assert annotation_selectors.can_annotate(_standing(stream, user))
    test = make_test(stream)
    assert not annotation_selectors.can_annotate(_standing(stream, user))
    test.is_active = False
    test.save()
    assert annotation_selectors.can_annotate(_standing(stream, user))


def test_a_test_without_questions_is_no_test(stream: Any) -> None:
    services.get_or_create_test(stream=stream)
    user = make_annotator(stream, status=Status.INVITED)
    assert services.active_test(stream) is None
    assert annotation_selectors.can_annotate(_standing(stream, user))


@pytest.mark.parametrize("status", [Status.TESTING, Status.FAILED, Status.PAUSED, Status.REMOVED])
def test_only_qualified_members_get_items_in_a_stream_with_a_test(stream: Any, status: str) -> None:
    make_test(stream)
    qualified = make_annotator(stream, status=Status.QUALIFIED)
    other = make_annotator(stream, status=status)
    assert annotation_selectors.can_annotate(_standing(stream, qualified))
    assert not annotation_selectors.can_annotate(_standing(stream, other))


# --- PM actions -----------------------------------------------------------------------------------
def test_waiving_qualifies_and_closes_an_attempt_in_progress(stream: Any) -> None:
    make_test(stream)
    user = make_annotator(stream, status=Status.INVITED)
    attempt = services.start_attempt(stream=stream, user=user)
    pm = UserFactory()
    services.apply_action(membership=membership(stream, user), action="waive", actor=pm, reason="certified translator")
    sm = membership(stream, user)
    attempt.refresh_from_db()
    assert sm.status == Status.QUALIFIED
    assert sm.status_reason == "certified translator"
    assert attempt.submitted_at is not None  # closed for the record ...
    event = StreamMembershipEvent.objects.filter(stream_membership=sm).latest("id")
    assert (event.action, event.actor, event.from_status, event.to_status) == ("waive", pm, "testing", "qualified")


def test_pause_resume_and_remove_are_logged_with_who_and_why(stream: Any) -> None:
    user = make_annotator(stream, status=Status.QUALIFIED)
    pm = UserFactory()
    for action, reason in [("pause", "rushing"), ("resume", "talked it through"), ("remove", "left the team")]:
        services.apply_action(membership=membership(stream, user), action=action, actor=pm, reason=reason)
    events = list(StreamMembershipEvent.objects.filter(stream_membership__user=user).order_by("id"))
    assert [(e.from_status, e.to_status, e.action, e.reason, e.actor) for e in events] == [
        ("qualified", "paused", "pause", "rushing", pm),
        ("paused", "qualified", "resume", "talked it through", pm),
        ("qualified", "removed", "remove", "left the team", pm),
    ]


@pytest.mark.parametrize(
    ("status", "action"),
    [("qualified", "waive"), ("invited", "pause"), ("qualified", "resume"), ("removed", "remove"), ("paused", "waive")],
)
def test_actions_that_do_not_apply_are_refused(stream: Any, status: str, action: str) -> None:
    user = make_annotator(stream, status=status)
    with pytest.raises(services.QualificationError):
        services.apply_action(membership=membership(stream, user), action=action, actor=UserFactory(), reason="x")
    assert membership(stream, user).status == status
    assert not StreamMembershipEvent.objects.exists()


# --- Statistics -----------------------------------------------------------------------------------
def test_question_statistics_show_difficulty_and_popular_wrong_answers(stream: Any) -> None:
    test = make_test(stream, answers=[["A"], ["A"]], cooldown_hours=0)
    for n in range(5):
        user = make_annotator(stream, status=Status.INVITED)
        # Everyone gets question 1 right; question 2: four choose B, one A.
        answer_all(services.start_attempt(stream=stream, user=user), ["A", "A" if n == 0 else "B"])
    first, second = selectors.question_stats(test)
    assert (first.answered, first.correct, first.wrong) == (5, 5, [])
    assert first.flag.startswith("everyone answers it right")
    assert (second.answered, second.correct, second.wrong) == (5, 1, [("B", 4)])
    assert second.share_correct == 0.2
    assert "“B” is chosen more often" in second.flag


@pytest.mark.parametrize(("seconds", "text"), [(12, "12 s"), (245, "4 min 05 s"), (3720, "1 h 02 min"), (None, "")])
def test_time_taken_reads_like_a_person_would_say_it(seconds: int | None, text: str) -> None:
    assert selectors.format_duration(None if seconds is None else timedelta(seconds=seconds)) == text


def test_the_candidate_list_shows_the_time_each_attempt_took(stream: Any) -> None:
    test = make_test(stream)
    user = make_annotator(stream, status=Status.INVITED)
    with time_machine.travel(T0, tick=False):
        attempt = services.start_attempt(stream=stream, user=user)
    with time_machine.travel(T0 + timedelta(minutes=3, seconds=7), tick=False):
        answer_all(attempt, ["A", "A", "A"])
    (row,) = selectors.candidate_rows(stream=stream, test=test)
    assert [took for _attempt, took in row.attempt_rows] == ["3 min 07 s"]
    assert row.best == 1.0


def test_the_periodic_task_scores_attempts_whose_time_ran_out(stream: Any) -> None:
    make_test(stream, time_limit_minutes=5)
    late = make_annotator(stream, status=Status.INVITED)
    on_time = make_annotator(stream, status=Status.INVITED)
    with time_machine.travel(T0, tick=False):
        services.start_attempt(stream=stream, user=late)
    with time_machine.travel(T0 + timedelta(minutes=4), tick=False):
        services.start_attempt(stream=stream, user=on_time)
    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        assert tasks.expire_qualification_attempts.delay().get() == 1
        assert tasks.expire_qualification_attempts.delay().get() == 0  # idempotent
    assert membership(stream, late).status == Status.FAILED
    assert membership(stream, on_time).status == Status.TESTING
