"""Judge runs against real chat-completions servers on loopback (``dynamic.demo_model``): a
consistent judge, a position-biased one, one that fails, one that is slow, and the budget."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from annotation.models import Assignment, Item, Judgement
from dynamic.demo_model import Behaviour
from judging import services
from judging.models import JudgeRun, Verdict
from tests.judging.helpers import items, judged_stream, run
from tests.model_servers import model_server

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_retries")]


@pytest.fixture
def fast_retries() -> object:
    with override_settings(QUORUM_JUDGE_BACKOFF_MS=10, QUORUM_JUDGE_RETRIES=2):
        yield


def test_it_creates_a_service_user_no_person_can_use() -> None:
    with model_server() as server:
        judge = judged_stream(server.url)
    user = get_user_model().objects.get(pk=judge.user_id)
    assert not user.is_active
    assert not user.has_usable_password()
    assert user.username.startswith("judge:")
    assert not judge.stream.project.memberships.filter(user=user).exists()


def test_a_consistent_judge_stores_model_judgements_that_take_no_ones_place() -> None:
    with model_server(Behaviour(token_delay=0, judge="longer")) as server:
        judge = judged_stream(server.url, n_items=4)
        assert run(judge) == JudgeRun.Status.DONE
        asked = server.behaviour.completions
    assert asked == 8  # both display orders of four items
    verdicts = list(Verdict.objects.filter(judge=judge))
    assert [v.status for v in verdicts] == [Verdict.Status.CONSISTENT] * 4
    assert {(v.answer_shown_ab, v.answer_shown_ba) for v in verdicts} == {("A", "A")}  # the longer is responses[0]
    judgements = list(Judgement.objects.filter(stream=judge.stream))
    assert len(judgements) == 4
    for judgement in judgements:
        assert judgement.source == Judgement.Source.MODEL
        assert judgement.annotator_id == judge.user_id
        assert judgement.counted is False
        assert judgement.choice == "A"
        assert "longer" in judgement.rationale
        assert judgement.idempotency_key == f"judge-{judge.pk}-item-{judgement.item_id}"
        assert judgement.verdict.judge_id == judge.pk
    assert set(Assignment.objects.values_list("status", flat=True)) == {Assignment.Status.SUBMITTED}
    # No slot of the overlap was used: the items still wait for all their people.
    assert set(Item.objects.values_list("claim_count", "judgement_count", "is_open")) == {(0, 0, True)}
    judge.refresh_from_db()
    finished = JudgeRun.objects.get()
    assert (finished.consistent, finished.inconsistent, finished.errors, finished.requests) == (4, 0, 0, 8)
    assert judge.spent_requests == 8
    assert judge.spent_tokens == finished.tokens > 0
    assert judge.estimated_tokens == 0


def test_the_swap_maps_answers_to_canonical_order() -> None:
    with model_server(Behaviour(token_delay=0, judge="longer")) as server:
        judge = judged_stream(server.url, n_items=0)
        items(judge.stream, 2, longer_first=False)
        run(judge)
    assert set(Verdict.objects.values_list("answer_shown_ab", "answer_shown_ba")) == {("B", "B")}
    assert set(Judgement.objects.values_list("choice", flat=True)) == {"B"}


def test_a_position_biased_judge_is_inconsistent_and_stores_no_judgement() -> None:
    with model_server(Behaviour(token_delay=0, judge="first")) as server:
        judge = judged_stream(server.url, n_items=3)
        run(judge)
    verdicts = list(Verdict.objects.filter(judge=judge))
    assert [v.status for v in verdicts] == [Verdict.Status.INCONSISTENT] * 3
    assert {(v.answer_shown_ab, v.answer_shown_ba) for v in verdicts} == {("A", "B")}
    assert all("position bias" in v.reason_shown_ba for v in verdicts)
    assert not Judgement.objects.exists()
    assert not Assignment.objects.exists()


def test_transient_errors_are_retried_and_the_retries_are_visible() -> None:
    with model_server(Behaviour(token_delay=0, judge="longer", error_status=503, error_times=2)) as server:
        judge = judged_stream(server.url, n_items=1, concurrency=1)
        run(judge)
    verdict = Verdict.objects.get()
    assert verdict.status == Verdict.Status.CONSISTENT
    assert verdict.attempts == 4  # two failures, then both orders
    finished = JudgeRun.objects.get()
    assert finished.retries == 2
    assert finished.requests == 4
    assert "HTTP 503" in finished.last_error
    judge.refresh_from_db()
    assert judge.spent_requests == 4  # retries are requests too


def test_an_endpoint_that_keeps_failing_gives_error_verdicts_after_the_retries() -> None:
    with model_server(Behaviour(token_delay=0, error_status=500)) as server:
        judge = judged_stream(server.url, n_items=2, concurrency=1)
        assert run(judge) == JudgeRun.Status.DONE
    verdicts = list(Verdict.objects.filter(judge=judge))
    assert [v.status for v in verdicts] == [Verdict.Status.ERROR] * 2
    assert all(v.attempts == 3 for v in verdicts)  # one try and two retries
    assert all(v.error == "The model endpoint answered with an error (HTTP 500)." for v in verdicts)
    assert all("HTTP 500" in v.error_detail for v in verdicts)
    finished = JudgeRun.objects.get()
    assert (finished.errors, finished.retries, finished.requests) == (2, 4, 6)
    assert not Judgement.objects.exists()


def test_a_client_error_is_not_retried() -> None:
    with model_server(Behaviour(token_delay=0, error_status=400)) as server:
        judge = judged_stream(server.url, n_items=1)
        run(judge)
    assert Verdict.objects.get().attempts == 1


def test_a_slow_judge_times_out_and_is_retried() -> None:
    with model_server(Behaviour(token_delay=0, first_token_delay=2.5)) as server:
        judge = judged_stream(server.url, n_items=1, timeout_seconds=1)
        with override_settings(QUORUM_JUDGE_RETRIES=1):
            run(judge)
    verdict = Verdict.objects.get()
    assert verdict.status == Verdict.Status.ERROR
    assert verdict.attempts == 2
    assert "did not" in verdict.error
    assert "1 s" in verdict.error


def test_the_budget_stops_the_run() -> None:
    with model_server(Behaviour(token_delay=0, judge="longer")) as server:
        judge = judged_stream(server.url, n_items=5, concurrency=1, budget_requests=5)
        status = run(judge)
        assert server.behaviour.completions == 5
    assert status == JudgeRun.Status.STOPPED
    stopped = JudgeRun.objects.get()
    assert stopped.stop_reason == JudgeRun.StopReason.BUDGET
    assert stopped.status_text() == "stopped: budget"
    judge.refresh_from_db()
    assert judge.spent_requests == 5
    assert not judge.budget_left
    # Two items judged; the third was asked once (spent) and waits for a bigger budget.
    assert Verdict.objects.count() == 2
    assert services.pending_items(judge).count() == 3
    # A new run stops at once; raising the budget lets the rest be judged.
    assert run(judge) == JudgeRun.Status.STOPPED
    services.update_judge(judge=judge, budget_requests=100)
    assert run(judge) == JudgeRun.Status.DONE
    assert Verdict.objects.count() == 5


def test_the_token_budget_stops_the_run() -> None:
    with model_server(Behaviour(token_delay=0, judge="longer")) as server:
        judge = judged_stream(server.url, n_items=5, concurrency=1, budget_tokens=1)
        assert run(judge) == JudgeRun.Status.STOPPED
        assert server.behaviour.completions == 1  # the first answer used the token budget up
    assert JudgeRun.objects.get().stop_reason == JudgeRun.StopReason.BUDGET


def test_tokens_are_estimated_when_the_endpoint_reports_no_usage() -> None:
    with model_server(Behaviour(token_delay=0, judge="longer", omit_usage=True)) as server:
        judge = judged_stream(server.url, n_items=1)
        run(judge)
    judge.refresh_from_db()
    verdict = Verdict.objects.get()
    assert verdict.tokens_estimated
    assert judge.estimated_tokens == judge.spent_tokens == verdict.prompt_tokens + verdict.completion_tokens > 100


def test_several_items_are_asked_at_once() -> None:
    with model_server(Behaviour(token_delay=0, first_token_delay=0.3, judge="longer")) as server:
        judge = judged_stream(server.url, n_items=8, concurrency=4)
        started = time.monotonic()
        run(judge)
        elapsed = time.monotonic() - started
    assert Verdict.objects.filter(status=Verdict.Status.CONSISTENT).count() == 8
    # 16 requests of 0.3 s each: one at a time ≥ 4.8 s; four items at a time about 1.2 s.
    assert elapsed < 3.5


def test_a_run_judges_only_items_without_a_verdict_and_skips_qualification_items() -> None:
    with model_server(Behaviour(token_delay=0, judge="longer")) as server:
        judge = judged_stream(server.url, n_items=2)
        items(judge.stream, 1, pool=Item.Pool.QUALIFICATION)
        run(judge)
        items(judge.stream, 1)
        run(judge)
        assert server.behaviour.completions == 6
    assert Verdict.objects.count() == 3
    assert not Verdict.objects.filter(item__pool=Item.Pool.QUALIFICATION).exists()


def test_golden_items_are_scored() -> None:
    with model_server(Behaviour(token_delay=0, judge="longer")) as server:
        judge = judged_stream(server.url, n_items=0)
        items(judge.stream, 1, is_golden=True, golden_answers=["A"])
        items(judge.stream, 1, is_golden=True, golden_answers=["B"])
        run(judge)
    assert sorted(bool(c) for c in Judgement.objects.values_list("gold_correct", flat=True)) == [False, True]


def test_a_run_stops_when_the_endpoint_keeps_failing() -> None:
    with model_server(Behaviour(token_delay=0, error_status=401)) as server:
        judge = judged_stream(server.url, n_items=services.ERROR_STREAK + 3, concurrency=1)
        assert run(judge) == JudgeRun.Status.STOPPED
    stopped = JudgeRun.objects.get()
    assert stopped.stop_reason == JudgeRun.StopReason.ERRORS
    assert stopped.errors == services.ERROR_STREAK
    # The PM fixes the endpoint and asks again about the failed items.
    assert services.retry_errors(judge=judge) == services.ERROR_STREAK
    assert services.pending_items(judge).count() == services.ERROR_STREAK + 3


def test_a_run_out_of_time_goes_back_to_pending_and_continues() -> None:
    with model_server(Behaviour(token_delay=0, judge="longer")) as server:
        judge = judged_stream(server.url, n_items=3, concurrency=1)
        started, _ = services.start_run(judge=judge)
        assert services.run_judge(run_id=started.pk, max_seconds=0) == JudgeRun.Status.PENDING
        started.refresh_from_db()
        assert started.status == JudgeRun.Status.PENDING
        assert started.attempts == 1
        assert services.run_judge(run_id=started.pk) == JudgeRun.Status.DONE
    assert Verdict.objects.count() == 3


def test_an_inactive_judge_does_not_run() -> None:
    with model_server(Behaviour(token_delay=0, judge="longer")) as server:
        judge = judged_stream(server.url, n_items=1, is_active=False)
        assert run(judge) == JudgeRun.Status.STOPPED
        assert server.behaviour.completions == 0
    assert JudgeRun.objects.get().stop_reason == JudgeRun.StopReason.INACTIVE


def test_one_open_run_per_judge() -> None:
    with model_server() as server:
        judge = judged_stream(server.url)
    first, created = services.start_run(judge=judge)
    second, created_again = services.start_run(judge=judge)
    assert created
    assert not created_again
    assert first.pk == second.pk
    assert services.stop_run(run=first)
    assert JudgeRun.objects.get().status_text() == "stopped by a project manager"
    assert services.run_judge(run_id=first.pk) == ""  # a stopped run is not taken


def test_the_unsafe_address_is_refused_at_connect_time() -> None:
    with model_server(Behaviour(token_delay=0, judge="longer"), allow=False) as server:
        judge = judged_stream(server.url, n_items=1)
        run(judge)
        assert server.behaviour.completions == 0
    verdict = Verdict.objects.get()
    assert verdict.status == Verdict.Status.ERROR
    assert verdict.error == "This model endpoint's address is not allowed."


def test_an_endpoint_that_cannot_be_reached_stops_the_run_and_leaves_the_items() -> None:
    with model_server() as server:
        url = server.url
    # The server is gone: the port refuses connections.
    with override_settings(QUORUM_ENDPOINT_ALLOWED_HOSTS=[url.split("/")[2]]):
        judge = judged_stream(url, n_items=3, concurrency=1)
        assert run(judge) == JudgeRun.Status.STOPPED
    stopped = JudgeRun.objects.get()
    assert stopped.status_text() == "stopped: the endpoint cannot be reached"
    assert stopped.requests == 3  # one try and two retries
    assert stopped.last_error == "Could not reach the model endpoint."
    assert not Verdict.objects.exists()
    assert services.pending_items(judge).count() == 3
