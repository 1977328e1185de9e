"""Peer review inside a stream: qualified annotators with a good record review a sample of the
others' work in that stream, blind, on the same review page; their reliability as reviewers is
measured against the other reviewers. (docs/qc.md, "Peer review".)

Who may be one (``eligibility``; a PM appoints, never the system): a project *annotator* (the
project's reviewers and PMs already review every stream) who, in this stream,

- is qualified (or labels as invited in a stream without a qualification test: appointing them
  records them as qualified), not paused or removed;
- has judged at least ``stream.min_sample`` ordinary items;
- has a gold accuracy whose one-sided 95% Clopper–Pearson lower bound is at or above the stream's
  ``min_gold_accuracy``, on at least ``stream.min_gold_count`` golden answers
  (``evidence.rate_at_least_decision``: someone whose accuracy is below the minimum passes with
  probability ≤ 5% at one look);
- has no open QC alert in the stream.

A PM cannot appoint someone who fails a condition: the refusal says which, with the figures.

What they review (``peer_tasks``): **sampled** tasks of that stream only (``ReviewTask.Reason.SAMPLE``):
never their own work, never a judgement that also waits for review as flagged (harmful/PII
content and personal data are for the project's reviewers), sent by a QC rule or by a PM (those
are decisions about one colleague: a burst of one person's work would also break the blindness),
and never a judgement another peer reviewer already reviewed (its second opinion comes from a
project reviewer or PM). The page shows no annotator's name to anyone; a peer reviewer also does
not get the gallery form (marking examples stays with reviewers and PMs).

How they are checked (``submit_peer_review``): a task a peer reviewer reviews wants a second
review (``reviews_wanted`` = 2) for their first ``PEER_CHECK_FIRST`` reviews in the stream, then
for a random ``PEER_CHECK_SHARE`` of them; the second review comes from a project reviewer or PM.
A peer's rejection counts like any reviewer's (double review: rejected by at least one reviewer).

How they are measured (``reviewer_table``): for every reviewer of the stream, on the current
judgements reviewed by two or more people, how often their decision matched the other reviewers'
majority (n, rate, exact 95% interval); the stream's alpha between reviewers
(``qc.services.reviewer_agreement``) counts peer reviews like any other.

Standing is checked on every request (``projects.access.get_stream_for_reviewer``): "Stop peer
review", a pause or a removal takes the queue away at once (a pause or removal also clears the
standing: ``projects.services.transition_stream_membership``).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from annotation import selectors as annotation_selectors
from annotation.models import Item, Judgement
from projects import services as project_services
from projects.models import Membership, Role, Stream, StreamMembership
from qc import evidence, review
from qc.charts import clopper_pearson
from qc.models import Alert, Review, ReviewTask
from qc.rules import RULE_LABELS

User = get_user_model()

PEER_CHECK_FIRST = 20  # a new peer reviewer's first reviews in a stream are all double-reviewed
PEER_CHECK_SHARE = 0.2  # after that, this share (as ``review.DOUBLE_REVIEW_SHARE`` for the sample)
PEER_KIND = "Peer reviewer"  # ``ReviewerRow.kind`` of a current peer reviewer
ELIGIBILITY_ALPHA = evidence.RATE_ALPHA  # 5%: a one-sided 95% lower bound

peer_random: random.Random = random.SystemRandom()


class NotInQueue(Exception):
    """The task left the peer reviewer's queue (another peer reviewer took it, or it is done)."""


class NotEligible(Exception):
    """The member does not meet the peer-review conditions; ``eligibility`` says which."""

    def __init__(self, eligibility: Eligibility) -> None:
        super().__init__(eligibility.because)
        self.eligibility = eligibility


@dataclass(frozen=True)
class Check:
    ok: bool
    text: str


@dataclass(frozen=True)
class Eligibility:
    """The decision and its figures: each condition with whether it holds and a sentence."""

    eligible: bool
    checks: list[Check]
    gold: evidence.Decision | None
    judgements: int
    membership: StreamMembership | None = field(default=None, compare=False)

    @property
    def because(self) -> str:
        """The sentence after "yes, because" / "no, because": the failed conditions, or all."""
        failed = [c.text for c in self.checks if not c.ok]
        return "; ".join(failed or [c.text for c in self.checks])

    @property
    def is_peer_reviewer(self) -> bool:
        return bool(self.membership and self.membership.reviews_as_peer)


def _without_test(stream: Stream) -> bool:
    """Invited members of a stream without an active qualification test label as if qualified."""
    return not Stream.objects.filter(pk=stream.pk).filter(annotation_selectors.has_active_test(OuterRef("pk"))).exists()


def eligibility(*, stream: Stream, user: Any) -> Eligibility:
    """May ``user`` be made a peer reviewer of ``stream``? The conditions of this module's
    docstring, each with its figures. 4 queries (5 for an invited member)."""
    return eligibilities(stream=stream, user_ids=[user.pk])[user.pk]


def eligibilities(*, stream: Stream, user_ids: list[int]) -> dict[int, Eligibility]:
    """``eligibility`` for several people at once, in 4 queries whatever their number (5 when
    one of them is an invited member: does the stream have a test?)."""
    roles = {m.user_id: m for m in Membership.objects.filter(project_id=stream.project_id, user_id__in=user_ids)}
    members = {sm.user_id: sm for sm in StreamMembership.objects.filter(stream=stream, user_id__in=user_ids)}
    counts: dict[int, dict[str, Any]] = {
        row["annotator"]: dict(row)
        for row in Judgement.objects.filter(
            stream=stream, annotator_id__in=user_ids, is_current=True, item__pool=Item.Pool.WORK
        )
        .values("annotator")
        .annotate(
            work=Count("id", filter=Q(item__is_golden=False)),
            gold=Count("id", filter=Q(gold_correct__isnull=False)),
            right=Count("id", filter=Q(gold_correct=True)),
        )
    }
    alerts: dict[int, list[str]] = defaultdict(list)
    for annotator_id, kind in Alert.objects.filter(
        stream=stream, annotator_id__in=user_ids, acknowledged_at__isnull=True
    ).values_list("annotator_id", "kind"):
        alerts[annotator_id].append(kind)
    without_test: bool | None = None  # asked once, when an invited member needs it
    result = {}
    for user_id in user_ids:
        membership, sm = roles.get(user_id), members.get(user_id)
        checks: list[Check] = []
        if membership is None:
            checks.append(Check(False, "not a member of the project"))
        elif membership.role != Role.ANNOTATOR:
            checks.append(
                Check(False, f"already reviews every stream of the project as {membership.get_role_display()}")
            )
        if sm is None:
            checks.append(Check(False, "not a member of this stream"))
        elif sm.status == StreamMembership.Status.QUALIFIED:
            checks.append(Check(True, "qualified"))
        elif sm.status == StreamMembership.Status.INVITED and (
            without_test if without_test is not None else (without_test := _without_test(stream))
        ):
            checks.append(Check(True, "labels without a qualification test (the stream has none)"))
        else:
            checks.append(Check(False, f"{sm.get_status_display().lower()} in this stream, not qualified"))
        row = counts.get(user_id, {})
        work, gold, right = int(row.get("work", 0)), int(row.get("gold", 0)), int(row.get("right", 0))
        need = stream.min_sample
        checks.append(Check(work >= need, f"{work} item{'s' if work != 1 else ''} judged (at least {need} needed)"))
        decision = evidence.rate_at_least_decision(
            right,
            gold,
            stream.min_gold_accuracy,
            subject=f"{right} of {gold} golden answers right",
            rate_name="gold accuracy",
            empty=f"no golden answers yet (at least {max(stream.min_gold_count, 1)} needed)",
            alpha=ELIGIBILITY_ALPHA,
            min_count=max(stream.min_gold_count, 1),
        )
        checks.append(Check(decision.pause, decision.message))
        open_kinds = alerts.get(user_id, [])
        if open_kinds:
            labels = "; ".join(sorted({RULE_LABELS.get(k, k) for k in open_kinds}))
            plural = "s" if len(open_kinds) != 1 else ""
            checks.append(Check(False, f"{len(open_kinds)} open QC alert{plural}: {labels}"))
        else:
            checks.append(Check(True, "no open QC alert"))
        result[user_id] = Eligibility(
            eligible=all(c.ok for c in checks), checks=checks, gold=decision, judgements=work, membership=sm
        )
    return result


# --- Appointing and ending ------------------------------------------------------------------------
@transaction.atomic
def make_peer_reviewer(*, stream: Stream, user: Any, actor: Any) -> Eligibility:
    """A PM makes ``user`` a peer reviewer of ``stream``; refused (``NotEligible``, with the
    reasons) unless ``eligibility`` says yes. The event records the figures the decision rested
    on. An invited member of a stream without a test is recorded as qualified first."""
    decision = eligibility(stream=stream, user=user)
    if not decision.eligible or decision.membership is None:
        raise NotEligible(decision)
    sm = decision.membership
    if sm.status == StreamMembership.Status.INVITED:
        project_services.transition_stream_membership(
            stream_membership=sm,
            to_status=StreamMembership.Status.QUALIFIED,
            actor=actor,
            reason="was labeling without a qualification test; made a peer reviewer",
        )
    project_services.set_peer_reviewer(
        stream_membership=sm, peer_reviewer=True, actor=actor, reason=f"eligible: {decision.because}"
    )
    return decision


def stop_peer_review(*, stream: Stream, user: Any, actor: Any, reason: str = "") -> bool:
    """A PM ends ``user``'s peer review in ``stream`` (False when they were not one). Their
    reviews stay and keep counting; the queue is closed to them from the next request."""
    sm = StreamMembership.objects.filter(stream=stream, user=user).first()
    if sm is None:
        return False
    return project_services.set_peer_reviewer(
        stream_membership=sm, peer_reviewer=False, actor=actor, reason=reason or "stopped by a project manager"
    )


def is_peer_reviewer(*, stream: Stream, user: Any) -> bool:
    return StreamMembership.objects.filter(
        stream=stream, user=user, peer_reviewer=True, status=StreamMembership.Status.QUALIFIED
    ).exists()


# --- The peer reviewer's queue -----------------------------------------------------------------------
def _peer_reviews(stream: Stream) -> QuerySet[Review]:
    """Reviews given by the project's annotators: peer reviews (only peers among them review)."""
    return Review.objects.filter(
        reviewer__memberships__project_id=stream.project_id, reviewer__memberships__role=Role.ANNOTATOR
    )


def peer_tasks(*, stream: Stream, reviewer: Any) -> QuerySet[ReviewTask]:
    """The open tasks of ``stream`` a peer reviewer may take: sampled, not their own work, not
    reviewed by them or by another peer reviewer, and not also waiting as flagged or sent by QC or
    a PM (a review closes every task of its judgement that has its reviews)."""
    mine = Review.objects.filter(judgement=OuterRef("judgement"), reviewer=reviewer)
    by_peer = _peer_reviews(stream).filter(judgement=OuterRef("judgement"))
    other_reason = ReviewTask.objects.filter(judgement=OuterRef("judgement"), done=False).exclude(
        reason=ReviewTask.Reason.SAMPLE
    )
    return (
        ReviewTask.objects.filter(stream=stream, done=False, reason=ReviewTask.Reason.SAMPLE)
        .exclude(judgement__annotator=reviewer)
        .exclude(Exists(mine))
        .exclude(Exists(by_peer))
        .exclude(Exists(other_reason))
    )


def next_peer_task(*, stream: Stream, reviewer: Any) -> ReviewTask | None:
    """The oldest task of ``peer_tasks``."""
    return (
        peer_tasks(stream=stream, reviewer=reviewer)
        .select_related("judgement__item", "judgement__assignment")
        .order_by("created_at", "id")
        .first()
    )


def peer_progress(*, stream: Stream, reviewer: Any) -> tuple[int, int]:
    """(reviews given in ``stream``, tasks left for this peer reviewer), as ``review.reviewer_progress``."""
    done = Review.objects.filter(judgement__stream=stream, reviewer=reviewer).count()
    return done, peer_tasks(stream=stream, reviewer=reviewer).count()


def wants_check(*, stream: Stream, reviewer: Any) -> bool:
    """Whether this peer review should get a second opinion: always for the reviewer's first
    ``PEER_CHECK_FIRST`` reviews in the stream, then with probability ``PEER_CHECK_SHARE``."""
    given = Review.objects.filter(judgement__stream=stream, reviewer=reviewer).count()
    return given < PEER_CHECK_FIRST or peer_random.random() < PEER_CHECK_SHARE


@transaction.atomic
def submit_peer_review(
    *, task: ReviewTask, reviewer: Any, decision: str, reason: str = "", now: datetime | None = None
) -> Review:
    """A peer reviewer's decision on a sampled task (``review.submit_review``), after raising the
    task's ``reviews_wanted`` to 2 when ``wants_check`` says so, so a project reviewer or PM
    reviews it too. The task's row is locked first and must still be in the reviewer's queue
    (``peer_tasks``), else ``NotInQueue``: two peer reviewers who opened the same task never both
    review it. Raises ``review.OwnWork`` / ``review.AlreadyReviewed`` as that does (and then the
    task is left as it was)."""
    task = ReviewTask.objects.select_for_update().select_related("judgement", "stream").get(pk=task.pk)
    if task.judgement.annotator_id == reviewer.pk:
        raise review.OwnWork("You cannot review your own judgement.")
    if Review.objects.filter(judgement_id=task.judgement_id, reviewer=reviewer).exists():
        raise review.AlreadyReviewed("You already reviewed this judgement.")
    if not peer_tasks(stream=task.stream, reviewer=reviewer).filter(pk=task.pk).exists():
        raise NotInQueue("That task is no longer in your queue.")
    if task.reviews_wanted < 2 and wants_check(stream=task.stream, reviewer=reviewer):
        ReviewTask.objects.filter(pk=task.pk, reviews_wanted__lt=2).update(reviews_wanted=2)
    return review.submit_review(
        judgement=task.judgement, reviewer=reviewer, decision=decision, reason=reason, now=now or timezone.now()
    )


def peer_streams(user: Any) -> QuerySet[Stream]:
    """The streams where ``user`` reviews as a peer now."""
    return (
        Stream.objects.filter(
            stream_memberships__user=user,
            stream_memberships__peer_reviewer=True,
            stream_memberships__status=StreamMembership.Status.QUALIFIED,
            project__memberships__user=user,
            project__memberships__role=Role.ANNOTATOR,
        )
        .select_related("project")
        .order_by("project__name", "-priority", "name")
        .distinct()
    )


def stream_home_context(*, stream: Stream, user: Any) -> dict[str, Any]:
    """For the annotator's stream page (``annotation.hooks.stream_home_context``): the link to
    their review queue, with the tasks left, when they are a peer reviewer of the stream."""
    if not is_peer_reviewer(stream=stream, user=user):
        return {}
    return {"peer_review": {"left": peer_tasks(stream=stream, reviewer=user).count()}}


# --- Reviewers' reliability ---------------------------------------------------------------------------
@dataclass
class ReviewerRow:
    """One reviewer of the stream: what they reviewed and how often they agreed with the others."""

    user_id: int
    username: str
    kind: str  # "PM", "Reviewer", "Peer reviewer", "Former peer reviewer"
    reviews: int = 0
    rejected: int = 0
    # Current judgements reviewed by two or more people on which the others had a majority.
    double: int = 0
    agreed: int = 0
    since: datetime | None = None
    by: str = ""
    standing: Eligibility | None = None  # current peer reviewers: do they still meet the conditions

    @property
    def rate(self) -> float | None:
        return self.agreed / self.double if self.double else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return clopper_pearson(self.agreed, self.double)

    @property
    def reject_share(self) -> float | None:
        return self.rejected / self.reviews if self.reviews else None


def agreement_with_others(rows: list[tuple[int, int, str]]) -> dict[int, tuple[int, int]]:
    """reviewer id -> (agreed, n) from (judgement id, reviewer id, decision) rows: on each
    judgement with two or more reviews, a reviewer agrees when their decision is the majority
    decision of the *other* reviewers of it; an even split of the others does not count. With two
    reviewers (the usual double review) this is simply "decided the same"."""
    by_judgement: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for judgement_id, reviewer_id, decision in rows:
        by_judgement[judgement_id].append((reviewer_id, decision))
    result: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for reviews in by_judgement.values():
        if len(reviews) < 2:
            continue
        for i, (reviewer_id, decision) in enumerate(reviews):
            others = Counter(d for j, (_r, d) in enumerate(reviews) if j != i).most_common()
            if len(others) > 1 and others[0][1] == others[1][1]:
                continue  # the others split evenly: no majority to agree with
            result[reviewer_id][1] += 1
            result[reviewer_id][0] += int(decision == others[0][0])
    return {reviewer_id: (agreed, n) for reviewer_id, (agreed, n) in result.items()}


def reviewer_table(stream: Stream, *, standings: bool = True) -> list[ReviewerRow]:
    """Every reviewer of ``stream`` (anyone with a review in it, and its current peer reviewers):
    reviews given and rejected, and agreement with the other reviewers on double-reviewed current
    judgements (``agreement_with_others``) with its exact 95% interval. Current peer reviewers
    also carry their ``eligibility`` now (``standings``), so the PM sees who no longer meets the
    conditions. 4 queries, and ``eligibilities``' 4 when the stream has peer reviewers: none per
    person."""
    given: dict[int, dict[str, Any]] = {
        row["reviewer"]: dict(row)
        for row in Review.objects.filter(judgement__stream=stream)
        .values("reviewer")
        .annotate(n=Count("id"), rejected=Count("id", filter=Q(decision=Review.Decision.REJECT)))
    }
    doubled = (
        Review.objects.filter(judgement__stream=stream, judgement__is_current=True)
        .values("judgement")
        .annotate(m=Count("id"))
        .filter(m__gte=2)
        .values("judgement")
    )
    agreement = agreement_with_others(
        list(Review.objects.filter(judgement__in=doubled).values_list("judgement_id", "reviewer_id", "decision"))
    )
    peers = {
        sm.user_id: sm
        for sm in StreamMembership.objects.filter(
            stream=stream, peer_reviewer=True, status=StreamMembership.Status.QUALIFIED
        ).select_related("peer_reviewer_by")
    }
    ids = set(given) | set(peers)
    role_in_project = Membership.objects.filter(project_id=stream.project_id, user=OuterRef("pk")).values("role")
    people = {
        pk: (username, role)
        for pk, username, role in User.objects.filter(pk__in=ids)
        .annotate(role=Subquery(role_in_project[:1]))
        .values_list("pk", "username", "role")
    }
    standing = eligibilities(stream=stream, user_ids=sorted(peers)) if standings and peers else {}
    rows = []
    for user_id in ids:
        username, role = people.get(user_id, ("?", None))
        sm = peers.get(user_id)
        if role == Role.PM:
            kind = "PM"
        elif role == Role.REVIEWER:
            kind = "Reviewer"
        elif sm is not None:
            kind = PEER_KIND
        else:
            kind = "Former peer reviewer" if role == Role.ANNOTATOR else "No longer in the project"
        agreed, n = agreement.get(user_id, (0, 0))
        row = ReviewerRow(
            user_id=user_id,
            username=username,
            kind=kind,
            reviews=int(given.get(user_id, {}).get("n", 0)),
            rejected=int(given.get(user_id, {}).get("rejected", 0)),
            double=n,
            agreed=agreed,
        )
        if sm is not None and kind == PEER_KIND:
            row.since = sm.peer_reviewer_since
            row.by = sm.peer_reviewer_by.get_username() if sm.peer_reviewer_by else ""
            row.standing = standing.get(user_id)
        rows.append(row)
    order = {"PM": 2, "Reviewer": 1, PEER_KIND: 0}
    rows.sort(key=lambda r: (order.get(r.kind, 3), r.username))
    return rows
