"""Peer review's services (``qc.peer_review``): the eligibility decision with its figures,
appointing and ending (with the history), what a peer reviewer's queue holds, the second review
of their work, and the reviewers' reliability against hand-computed figures."""

from __future__ import annotations

import random
from typing import Any

import pytest
from scipy.stats import binom

from projects.models import Role, StreamMembership, StreamMembershipEvent
from projects.services import PEER_REVIEW_OFF, PEER_REVIEW_ON
from qc import evidence, peer_review, review, rules
from qc.models import Alert, ReviewTask
from qc.services import reviewer_agreement, thresholds_for
from tests.annotation.conftest import make_annotator
from tests.qc.peer_fixtures import good_annotator, peer_stream, record, sample_task, staff

pytestmark = pytest.mark.django_db


# --- Eligibility ------------------------------------------------------------------------------------
def test_it_is_eligible_with_enough_work_and_a_lower_bound_at_the_minimum() -> None:
    stream = peer_stream()
    alice = good_annotator(stream, "alice")
    decision = peer_review.eligibility(stream=stream, user=alice)
    assert decision.eligible
    assert decision.judgements == 6
    assert decision.gold is not None
    assert (decision.gold.k, decision.gold.n) == (10, 10)
    assert decision.gold.details["lower"] == pytest.approx(0.05 ** (1 / 10), abs=1e-6)  # 74.1%
    assert "10 of 10 golden answers right (100%): gold accuracy at or above 70%" in decision.because
    assert "95% lower bound 74.1%" in decision.because
    assert "6 items judged (at least 5 needed)" in decision.because
    assert "no open QC alert" in decision.because


def test_nine_of_ten_is_not_enough_evidence() -> None:
    stream = peer_stream()
    bob = make_annotator(stream, "bob")
    record(stream, bob, work=6, gold_right=9, gold_wrong=1)
    decision = peer_review.eligibility(stream=stream, user=bob)
    assert not decision.eligible
    # Only the failed condition is given as the reason, with its figures.
    assert decision.because == (
        "9 of 10 golden answers right (90%): not enough evidence that gold accuracy is at or above 70% "
        "(95% lower bound 60.5%; exact binomial, one-sided, alpha 5%, n=10)"
    )


@pytest.mark.parametrize(
    ("work", "right", "because"),
    [
        (4, 10, "4 items judged (at least 5 needed)"),
        (6, 8, "8 of 8 golden answers right (100%): too few to tell (n=8, at least 10 needed)"),
        (6, 0, "no golden answers yet (at least 10 needed)"),
    ],
)
def test_too_little_of_a_record_is_not_eligible(work: int, right: int, because: str) -> None:
    stream = peer_stream()
    carol = make_annotator(stream, "carol")
    record(stream, carol, work=work, gold_right=right)
    decision = peer_review.eligibility(stream=stream, user=carol)
    assert not decision.eligible
    assert decision.because == because


def test_an_open_alert_a_pause_or_a_reviewer_role_is_not_eligible() -> None:
    stream = peer_stream()
    alice = good_annotator(stream, "alice")
    Alert.objects.create(stream=stream, annotator=alice, kind="position_bias", message="m")
    assert peer_review.eligibility(stream=stream, user=alice).because == (
        "1 open QC alert: Picks one position (first or second) more than chance"
    )
    Alert.objects.update(acknowledged_at="2026-01-01T00:00:00Z")
    assert peer_review.eligibility(stream=stream, user=alice).eligible
    StreamMembership.objects.filter(user=alice).update(status=StreamMembership.Status.PAUSED)
    assert peer_review.eligibility(stream=stream, user=alice).because == "paused in this stream, not qualified"
    rita = staff(stream, "rita")
    assert (
        "already reviews every stream of the project as Reviewer"
        in peer_review.eligibility(stream=stream, user=rita).because
    )


@pytest.mark.parametrize("threshold", [0.6, 0.7, 0.8])
@pytest.mark.parametrize("n", [15, 30, 100])
def test_the_gold_condition_passes_someone_below_the_minimum_at_most_5_percent(threshold: float, n: int) -> None:
    """The stated error rate, exactly: the chance an annotator whose accuracy is at the minimum
    (the worst case below it) passes, summed over every k the test lets through."""
    passing = [
        k
        for k in range(n + 1)
        if evidence.rate_at_least_decision(k, n, threshold, subject="", rate_name="", empty="", min_count=10).pause
    ]
    assert passing  # a perfect record always passes at these n
    chance = float(binom.sf(min(passing) - 1, n, threshold))
    assert chance <= 0.05
    # ... and the bound is tight: one more pass would spend more than 5%.
    assert float(binom.sf(min(passing) - 2, n, threshold)) > 0.05


# --- Appointing and ending --------------------------------------------------------------------------
def test_a_pm_makes_an_eligible_annotator_a_peer_reviewer_with_the_figures_recorded() -> None:
    stream = peer_stream()
    alice, pam = good_annotator(stream, "alice"), staff(stream, "pam", Role.PM)
    peer_review.make_peer_reviewer(stream=stream, user=alice, actor=pam)
    sm = StreamMembership.objects.get(stream=stream, user=alice)
    assert sm.peer_reviewer
    assert sm.peer_reviewer_by == pam
    assert sm.peer_reviewer_since is not None
    assert sm.reviews_as_peer
    event = StreamMembershipEvent.objects.get(stream_membership=sm, action=PEER_REVIEW_ON)
    assert event.actor == pam
    assert "10 of 10 golden answers right" in event.reason
    assert peer_review.stop_peer_review(stream=stream, user=alice, actor=pam, reason="enough for now")
    sm.refresh_from_db()
    assert not sm.peer_reviewer
    assert sm.peer_reviewer_since is None
    assert StreamMembershipEvent.objects.get(stream_membership=sm, action=PEER_REVIEW_OFF).reason == "enough for now"
    assert not peer_review.stop_peer_review(stream=stream, user=alice, actor=pam)


def test_an_ineligible_annotator_is_refused_with_the_reason() -> None:
    stream = peer_stream()
    bob, pam = make_annotator(stream, "bob"), staff(stream, "pam", Role.PM)
    record(stream, bob, work=6, gold_right=9, gold_wrong=1)
    with pytest.raises(peer_review.NotEligible, match=r"95% lower bound 60\.5%"):
        peer_review.make_peer_reviewer(stream=stream, user=bob, actor=pam)
    assert not StreamMembership.objects.get(user=bob).peer_reviewer
    assert not StreamMembershipEvent.objects.filter(action=PEER_REVIEW_ON).exists()


def test_an_invited_annotator_of_a_stream_without_a_test_is_recorded_as_qualified() -> None:
    stream = peer_stream()
    dora = make_annotator(stream, "dora", status=StreamMembership.Status.INVITED)
    record(stream, dora, work=6, gold_right=10)
    peer_review.make_peer_reviewer(stream=stream, user=dora, actor=staff(stream, "pam", Role.PM))
    sm = StreamMembership.objects.get(user=dora)
    assert sm.status == StreamMembership.Status.QUALIFIED
    assert sm.reviews_as_peer


def test_a_pause_ends_peer_review_and_says_so_in_the_history() -> None:
    stream = peer_stream()
    alice, pam = good_annotator(stream, "alice"), staff(stream, "pam", Role.PM)
    peer_review.make_peer_reviewer(stream=stream, user=alice, actor=pam)
    assert rules.pause_annotator(stream=stream, annotator_id=alice.pk, reason="rushing", actor=pam)
    sm = StreamMembership.objects.get(user=alice)
    assert sm.status == StreamMembership.Status.PAUSED
    assert not sm.peer_reviewer
    ended = StreamMembershipEvent.objects.get(stream_membership=sm, action=PEER_REVIEW_OFF)
    assert ended.reason == "ended: paused (rushing)"
    # Resumed, they label again, but peer review is the PM's decision again.
    assert rules.resume_annotator(stream=stream, annotator_id=alice.pk, reason="talked", actor=pam)
    assert not StreamMembership.objects.get(user=alice).peer_reviewer


# --- The queue -------------------------------------------------------------------------------------
def test_a_peer_reviewer_gets_only_others_sampled_work_without_other_reasons() -> None:
    stream = peer_stream()
    alice, bob, carl = good_annotator(stream, "alice"), make_annotator(stream, "bob"), make_annotator(stream, "carl")
    sampled = sample_task(stream, bob)
    sample_task(stream, alice)  # her own work
    flagged = sample_task(stream, bob, reason=ReviewTask.Reason.FLAG)
    also_flagged = sample_task(stream, bob)  # the same judgement also waits as flagged
    ReviewTask.objects.create(judgement=also_flagged.judgement, stream=stream, reason=ReviewTask.Reason.FLAG)
    sample_task(stream, bob, reason=ReviewTask.Reason.QC)
    by_other_peer = sample_task(stream, bob, reviews_wanted=2)
    review.submit_review(judgement=by_other_peer.judgement, reviewer=carl, decision="accept")  # carl: an annotator
    other_stream = peer_stream(project=stream.project)
    sample_task(other_stream, bob)
    assert list(peer_review.peer_tasks(stream=stream, reviewer=alice)) == [sampled]
    assert peer_review.next_peer_task(stream=stream, reviewer=alice) == sampled
    # A project reviewer still sees every open task, the flagged ones first.
    rita = staff(stream, "rita")
    assert review.next_task(stream=stream, reviewer=rita) == flagged


def test_a_peer_review_wants_a_second_review_by_staff(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = peer_stream()
    alice, bob, rita = good_annotator(stream, "alice"), make_annotator(stream, "bob"), staff(stream, "rita")
    task = sample_task(stream, bob)
    peer_review.submit_peer_review(task=task, reviewer=alice, decision="accept")
    task.refresh_from_db()
    assert task.reviews_wanted == 2
    assert not task.done
    assert not peer_review.peer_tasks(stream=stream, reviewer=alice).exists()
    assert review.next_task(stream=stream, reviewer=rita) == task
    review.submit_review(judgement=task.judgement, reviewer=rita, decision="accept")
    task.refresh_from_db()
    assert task.done


def test_after_the_first_reviews_only_a_share_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = peer_stream()
    alice, bob = good_annotator(stream, "alice"), make_annotator(stream, "bob")
    monkeypatch.setattr(peer_review, "PEER_CHECK_FIRST", 1)
    first, second, third = (sample_task(stream, bob) for _ in range(3))
    peer_review.submit_peer_review(task=first, reviewer=alice, decision="accept")
    monkeypatch.setattr(peer_review, "peer_random", random.Random(0))  # first draw 0.844: not checked
    peer_review.submit_peer_review(task=second, reviewer=alice, decision="accept")
    assert [t.reviews_wanted for t in ReviewTask.objects.filter(pk__in=[first.pk, second.pk]).order_by("pk")] == [2, 1]
    monkeypatch.setattr(peer_review, "peer_random", random.Random(3))  # first draw 0.238
    monkeypatch.setattr(peer_review, "PEER_CHECK_SHARE", 0.3)
    peer_review.submit_peer_review(task=third, reviewer=alice, decision="accept")
    third.refresh_from_db()
    assert third.reviews_wanted == 2


def test_a_refused_peer_review_leaves_the_task_as_it_was() -> None:
    stream = peer_stream()
    alice = good_annotator(stream, "alice")
    own = sample_task(stream, alice)
    with pytest.raises(review.OwnWork):
        peer_review.submit_peer_review(task=own, reviewer=alice, decision="accept")
    own.refresh_from_db()
    assert own.reviews_wanted == 1


# --- Reliability -----------------------------------------------------------------------------------
def test_agreement_with_others_by_hand() -> None:
    peer, rita, tom = 1, 2, 3
    rows = [
        (10, peer, "accept"), (10, rita, "accept"),  # agree
        (11, peer, "reject"), (11, rita, "accept"),  # disagree
        (12, peer, "accept"), (12, rita, "accept"), (12, tom, "reject"),  # others of peer and rita split
        (13, peer, "accept"),  # one review: not double-reviewed
    ]  # fmt: skip
    assert peer_review.agreement_with_others(rows) == {peer: (1, 2), rita: (1, 2), tom: (0, 1)}


def test_the_reviewers_table_and_alpha_count_peer_reviews() -> None:
    stream = peer_stream()
    alice, bob = good_annotator(stream, "alice"), make_annotator(stream, "bob")
    rita, pam = staff(stream, "rita"), staff(stream, "pam", Role.PM)
    peer_review.make_peer_reviewer(stream=stream, user=alice, actor=pam)
    # Five tasks both reviewed: they agree on four; one more reviewed by rita alone.
    for peer_says, rita_says in [("accept", "accept")] * 3 + [("reject", "reject"), ("reject", "accept")]:
        task = sample_task(stream, bob)
        peer_review.submit_peer_review(task=task, reviewer=alice, decision=peer_says, reason="why")
        review.submit_review(judgement=task.judgement, reviewer=rita, decision=rita_says, reason="why")
    review.submit_review(judgement=sample_task(stream, bob).judgement, reviewer=rita, decision="accept")
    rows = {row.username: row for row in peer_review.reviewer_table(stream)}
    peer, reviewer = rows["alice"], rows["rita"]
    assert (peer.kind, peer.reviews, peer.rejected, peer.agreed, peer.double) == ("Peer reviewer", 5, 2, 4, 5)
    assert (reviewer.kind, reviewer.reviews, reviewer.rejected, reviewer.agreed, reviewer.double) == (
        "Reviewer",
        6,
        1,
        4,
        5,
    )
    # Exact 95% interval of 4 of 5: (beta.ppf(0.025, 4, 2), beta.ppf(0.975, 5, 1)); the upper one
    # is 0.975 ** (1/5) in closed form: (28.4%, 99.5%).
    assert peer.interval == pytest.approx((0.283582, 0.975 ** (1 / 5)), abs=1e-6)
    assert peer.standing is not None
    assert peer.standing.eligible
    assert peer.by == "pam"
    figure = reviewer_agreement(stream, thresholds_for(stream))
    assert figure.sample_size == 5
    assert figure.details["pairs_agreeing"] == 0.8
    # Stopped: their row stays, as a former peer reviewer, with their figures.
    peer_review.stop_peer_review(stream=stream, user=alice, actor=pam)
    assert {row.username: row.kind for row in peer_review.reviewer_table(stream)}["alice"] == "Former peer reviewer"


def test_the_reviewers_table_costs_the_same_for_one_peer_reviewer_or_three(django_assert_num_queries: Any) -> None:
    stream = peer_stream()
    pam, bob = staff(stream, "pam", Role.PM), make_annotator(stream, "bob")
    peers = [good_annotator(stream, name) for name in ("alice", "anna", "amir")]
    peer_review.make_peer_reviewer(stream=stream, user=peers[0], actor=pam)
    peer_review.submit_peer_review(task=sample_task(stream, bob), reviewer=peers[0], decision="accept")
    # Reviews given, double reviews, peer reviewers, the people, and the 4 of their eligibility.
    with django_assert_num_queries(8):
        assert len(peer_review.reviewer_table(stream)) == 1
    for person in peers[1:]:
        peer_review.make_peer_reviewer(stream=stream, user=person, actor=pam)
    with django_assert_num_queries(8):
        rows = peer_review.reviewer_table(stream)
    assert [row.username for row in rows] == ["alice", "amir", "anna"]
    assert all(row.standing is not None and row.standing.eligible for row in rows)
