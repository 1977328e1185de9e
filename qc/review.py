"""Writes of the review queue: which judgements go to review, and reviewers' decisions.

A judgement enters the queue (a ``ReviewTask``) for one of four reasons:

- **sample**: on submit, with probability ``stream.review_rate`` (an independent draw per
  judgement); ``DOUBLE_REVIEW_SHARE`` of the sampled ones want two reviewers, so reviewer-vs-reviewer
  agreement can be measured;
- **flag**: the annotator flagged it harmful or PII (always);
- **qc**: a QC rule sent the annotator's recent work (``qc.rules``);
- **pm**: a PM sent it.

Golden items are never queued: their right answer is known and scored automatically.
Work a QC rule took out of the count (``qc_pause``, ``qc_drift``) comes back when a reviewer
accepts it and nobody rejected it.
A task is done when it has as many reviews as it wants. Rejections feed the annotator's
``rejection_rate`` (``qc.metrics``), and a rejected judgement is taken out of the count
(``annotation.services.exclude_judgements``, reason ``review_rejected``): its item collects another
judgement in its place.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Case, Count, Exists, IntegerField, OuterRef, Value, When
from django.utils import timezone

from annotation import services as annotation_services
from annotation.models import Item, Judgement
from projects.models import Stream
from qc.models import Review, ReviewTask

DOUBLE_REVIEW_SHARE = 0.2
# Exclusions a reviewer's acceptance undoes: QC's suspicion, not a person's decision.
QC_EXCLUSIONS = (Judgement.ExcludedReason.QC_PAUSE.value, Judgement.ExcludedReason.QC_DRIFT.value)
# A QC rule or a PM sends at most this many of the annotator's latest judgements.
RECENT_WORK_LIMIT = 50

review_random: random.Random = random.SystemRandom()


class AlreadyReviewed(Exception):
    """This reviewer already reviewed this judgement."""


class OwnWork(Exception):
    """Reviewers do not review their own judgements."""


def queue_on_submit(*, judgement: Judgement, stream: Stream) -> list[ReviewTask]:
    """Called by the submit service, inside its transaction, for a new judgement on an ordinary
    item: queues it when flagged (harmful or PII) and with probability ``stream.review_rate``. One
    INSERT when queued, no query otherwise. On a helpful-and-safe stream ``flag_harmful`` means "a
    response was marked unsafe": an answer of that task, not a report about the item, so it does
    not queue the judgement by itself (the sample still does)."""
    tasks = []
    harmful = judgement.flag_harmful and stream.task_kind != Stream.TaskKind.HELPFUL_SAFE
    if harmful or judgement.flag_pii:
        flags = [name for name, on in (("harmful", harmful), ("PII", judgement.flag_pii)) if on]
        tasks.append(
            ReviewTask(
                judgement=judgement,
                stream=stream,
                reason=ReviewTask.Reason.FLAG,
                note="Flagged " + " and ".join(flags),
            )
        )
    if stream.review_rate > 0 and review_random.random() < stream.review_rate:
        wanted = 2 if review_random.random() < DOUBLE_REVIEW_SHARE else 1
        tasks.append(
            ReviewTask(judgement=judgement, stream=stream, reason=ReviewTask.Reason.SAMPLE, reviews_wanted=wanted)
        )
    if tasks:
        ReviewTask.objects.bulk_create(tasks, ignore_conflicts=True)
    return tasks


def send_recent_work(
    *,
    stream: Stream,
    annotator: Any,
    reason: str,
    note: str,
    since: datetime | None = None,
    limit: int = RECENT_WORK_LIMIT,
) -> int:
    """Queues the annotator's latest ``limit`` current judgements on ordinary items of ``stream``
    (submitted since ``since``, if given) for review with ``reason`` (qc or pm). Judgements already
    queued for that reason are left as they are. Returns how many were newly queued."""
    rows = Judgement.objects.filter(
        stream=stream, annotator=annotator, is_current=True, item__is_golden=False, item__pool=Item.Pool.WORK
    )
    if since is not None:
        rows = rows.filter(submitted_at__gte=since)
    ids = list(rows.order_by("-submitted_at", "-id").values_list("pk", flat=True)[:limit])
    if not ids:
        return 0
    queued = set(ReviewTask.objects.filter(judgement_id__in=ids, reason=reason).values_list("judgement_id", flat=True))
    new = [pk for pk in ids if pk not in queued]
    ReviewTask.objects.bulk_create(
        [ReviewTask(judgement_id=pk, stream=stream, reason=reason, note=note[:500]) for pk in new],
        ignore_conflicts=True,
    )
    return len(new)


def next_task(*, stream: Stream, reviewer: Any) -> ReviewTask | None:
    """The open task of ``stream`` this reviewer should take next: not their own work, not reviewed
    by them yet; flagged work first, then work sent by a QC rule or a PM, then the sample; oldest
    first."""
    rank = Case(
        When(reason=ReviewTask.Reason.FLAG, then=Value(0)),
        When(reason=ReviewTask.Reason.QC, then=Value(1)),
        When(reason=ReviewTask.Reason.PM, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    mine = Review.objects.filter(judgement=OuterRef("judgement"), reviewer=reviewer)
    return (
        ReviewTask.objects.filter(stream=stream, done=False)
        .exclude(judgement__annotator=reviewer)
        .exclude(Exists(mine))
        .annotate(rank=rank)
        .select_related("judgement__item", "judgement__assignment")
        .order_by("rank", "created_at", "id")
        .first()
    )


def submit_review(
    *, judgement: Judgement, reviewer: Any, decision: str, reason: str = "", now: datetime | None = None
) -> Review:
    """Stores a reviewer's decision on a judgement (a rejection carries its reason: the annotator
    reads it; a rejected judgement is excluded from the count, so its item collects another) and
    closes the judgement's tasks that have all the reviews they want. Raises
    ``OwnWork`` for the reviewer's own judgement and ``AlreadyReviewed`` for a second review of
    the same judgement by the same reviewer."""
    if judgement.annotator_id == reviewer.pk:
        raise OwnWork("You cannot review your own judgement.")
    now = now or timezone.now()
    try:
        with transaction.atomic():
            review = Review.objects.create(
                judgement=judgement, reviewer=reviewer, decision=decision, reason=reason.strip()[:500], created_at=now
            )
            if decision == Review.Decision.REJECT:
                annotation_services.exclude_judgements(
                    judgement_ids=[judgement.pk], reason=Judgement.ExcludedReason.REVIEW_REJECTED, now=now
                )
            elif (
                judgement.excluded_reason in QC_EXCLUSIONS
                and not Review.objects.filter(judgement=judgement, decision=Review.Decision.REJECT).exists()
            ):
                # QC took it out on suspicion (a pause, a drift); a reviewer found it sound.
                annotation_services.restore_judgements(judgement_ids=[judgement.pk], now=now)
            reviews = Review.objects.filter(judgement=judgement).count()
            ReviewTask.objects.filter(judgement=judgement, done=False, reviews_wanted__lte=reviews).update(done=True)
    except IntegrityError as exc:
        raise AlreadyReviewed("You already reviewed this judgement.") from exc
    return review


def queue_counts(stream: Stream) -> dict[str, int]:
    """Open tasks by reason, for the QC page and the reviewer's page."""
    rows = ReviewTask.objects.filter(stream=stream, done=False).values("reason").annotate(n=Count("id"))
    counts = {row["reason"]: row["n"] for row in rows}
    counts["total"] = sum(counts.values())
    return counts


def open_for_reviewer(*, reviewer: Any) -> Any:
    """Open tasks this reviewer may take (not their own work, not reviewed by them yet), any stream."""
    mine = Review.objects.filter(judgement=OuterRef("judgement"), reviewer=reviewer)
    return ReviewTask.objects.filter(done=False).exclude(judgement__annotator=reviewer).exclude(Exists(mine))


def reviewer_progress(*, stream: Stream, reviewer: Any) -> tuple[int, int]:
    """(reviews this reviewer has given in ``stream``, open tasks of ``stream`` left for them).
    The page shows "done + 1 of done + left": the current task's place in the reviewer's run."""
    done = Review.objects.filter(judgement__stream=stream, reviewer=reviewer).count()
    left = open_for_reviewer(reviewer=reviewer).filter(stream=stream).count()
    return done, left
