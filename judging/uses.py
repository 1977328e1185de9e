"""What a PM may let a stream's model judge do, each off by default (``Judge.use_*``):

- **escalate** (``overruled``, ``escalate_after_verdict``, ``escalate_existing``): on a stream with
  adaptive overlap, an item whose first n human judgements agree stops early — unless the judge's
  swap-consistent verdict disagrees with them: then it collects up to the full overlap, as if the
  people had disagreed. Whichever comes first: the n-th human answer (annotation asks
  ``hooks.first_agreement_overruled`` while deciding) or the verdict (stored after the item
  stopped: the item is decided again and re-opens). Each escalation is recorded
  (``annotation.models.ItemEscalation``) with the two answers.
- **suggest** (``suggestion_for``): annotators see the judge's pick on the item page, except on a
  random hold-out of items (``held_out``: a share ``Judge.suggest_holdout``, fixed per item by an
  HMAC of the stream and the item under the site's secret, so nobody can tell which items are
  held out and the same item is always held out). What was shown is stored on each human
  judgement (``Judgement.suggestion``), so QC can compare agreement with the judge when shown and
  when hidden (the anchoring effect, ``qc.judge_quality``).
- **vote** lives in the export (``exports.services``): the judge's consistent verdicts join
  Dawid–Skene as one more worker.

The figures of a use are in docs/judging.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils.crypto import salted_hmac

from annotation import services as annotation_services
from annotation.hooks import Overruled
from annotation.models import Item
from judging.models import Judge, Verdict

PICKS = ("A", "B", "tie")
# The streams whose judge has the suggest or the escalate use on, cached (the item page and the
# submit ask on every item: a stream without a judge must cost them no query). Cleared when a
# judge is saved or deleted (``on_judge_saved``, ``on_judge_deleted``); the timeout is a backstop
# for a change made without ``save()``.
USES_CACHE_KEY = "judging:uses-by-stream"
USES_CACHE_SECONDS = 600


def uses_by_stream() -> dict[int, tuple[bool, bool]]:
    """{stream id: (suggest, escalate)} for every judge with either use on. One query on a miss."""
    found = cache.get(USES_CACHE_KEY)
    if found is None:
        found = {
            stream_id: (suggest, escalate)
            for stream_id, suggest, escalate in Judge.objects.filter(
                Q(use_suggest=True) | Q(use_escalate=True)
            ).values_list("stream_id", "use_suggest", "use_escalate")
        }
        cache.set(USES_CACHE_KEY, found, USES_CACHE_SECONDS)
    return dict(found)


def forget_uses() -> None:
    cache.delete(USES_CACHE_KEY)


# --- Suggest ------------------------------------------------------------------------------------
def held_out(*, stream_id: int, item_id: int, share: float) -> bool:
    """Whether the item is in the stream's suggestion hold-out: a uniform number in [0, 1) from an
    HMAC (keyed by the site's secret) of the stream and the item, below ``share``. Deterministic
    and independent of the item's content, so the held-out items are a random sample."""
    if share <= 0:
        return False
    if share >= 1:
        return True
    digest = salted_hmac("quorum.judging.suggest_holdout", f"{stream_id}:{item_id}").hexdigest()
    return int(digest[:13], 16) / 16**13 < share


def suggestion_for(*, assignment: Any, stream: Any) -> str | None:
    """The judge's pick to show on this assignment (``annotation.hooks.item_suggestion``): its
    canonical answer "A" / "B" / "tie" when the stream's suggest use is on and a swap-consistent
    verdict on the item existed when the item was served to the annotator; "" when such a verdict
    exists but the item is in the hold-out; None otherwise. "Existed when served" makes the page
    and the submit agree for one assignment, however long it stays open. One query on a stream
    whose judge suggests, none elsewhere (``uses_by_stream``)."""
    if not uses_by_stream().get(stream.pk, (False, False))[0]:
        return None
    row = (
        Verdict.objects.filter(
            judge__stream_id=stream.pk,
            judge__use_suggest=True,
            item_id=assignment.item_id,
            status=Verdict.Status.CONSISTENT,
            created_at__lte=assignment.served_at,
        )
        .values_list("answer_shown_ab", "judge__suggest_holdout")
        .first()
    )
    if row is None or row[0] not in PICKS:
        return None
    answer, share = row
    return "" if held_out(stream_id=stream.pk, item_id=assignment.item_id, share=share) else answer


# --- Escalate -----------------------------------------------------------------------------------
def _answer_text(answer: str) -> str:
    return {"A": "response A", "B": "response B", "tie": "a tie", "both_bad": "both bad"}.get(answer, answer)


def overruled(*, stream: Any, agreed: Mapping[int, Any]) -> dict[int, Overruled]:
    """``annotation.hooks.first_agreement_overruled``: of the items whose first n judgements
    agreed, those where the stream's judge (escalate use on) gave a different swap-consistent
    answer. Rankings are not judged (their agreed answer is a group, not a choice). One query on a
    stream whose judge escalates, none elsewhere."""
    if not uses_by_stream().get(stream.pk, (False, False))[1]:
        return {}
    rows = Verdict.objects.filter(
        judge__stream_id=stream.pk,
        judge__use_escalate=True,
        status=Verdict.Status.CONSISTENT,
        item_id__in=list(agreed),
        item__is_golden=False,
    ).values_list("item_id", "answer_shown_ab")
    n = stream.adaptive_min_agree
    found: dict[int, Overruled] = {}
    for item_id, answer in rows:
        mine = agreed.get(item_id)
        if not isinstance(mine, str) or answer not in PICKS or answer == mine:
            continue
        found[item_id] = Overruled(
            by="judge",
            other_answer=answer,
            reason=(
                f"The first {n} annotators all chose {_answer_text(mine)}; the model judge chose "
                f"{_answer_text(answer)} in both display orders."
            ),
        )
    return found


def escalate_after_verdict(verdict: Verdict) -> None:
    """After a verdict is stored: if the stream's escalate use is on and the verdict is
    consistent, the item's early stop is decided again (it re-opens when the judge disagrees
    with its first n agreeing judgements). Runs after COMMIT of the verdict."""
    if verdict.status != Verdict.Status.CONSISTENT:
        return
    judge = verdict.judge  # the run stores verdicts with their judge: no query
    if not uses_by_stream().get(judge.stream_id, (False, False))[1]:
        return  # the escalate use is off: nothing to re-decide
    annotation_services.redecide_items(stream=judge.stream, item_ids=[verdict.item_id])


def escalate_existing(judge: Judge) -> int:
    """When the escalate use is turned on: the items that had already stopped early and that
    the judge's consistent verdicts contradict are decided again (they re-open). Returns how many
    items were looked at."""
    if not judge.use_escalate:
        return 0
    item_ids = list(
        Item.objects.filter(
            stream_id=judge.stream_id,
            first_agreed=True,
            is_golden=False,
            verdicts__judge=judge,
            verdicts__status=Verdict.Status.CONSISTENT,
        ).values_list("pk", flat=True)
    )
    for start in range(0, len(item_ids), 500):
        annotation_services.redecide_items(stream=judge.stream, item_ids=item_ids[start : start + 500])
    return len(item_ids)


def on_verdict_saved(sender: Any, instance: Verdict, **kwargs: Any) -> None:
    """``post_save`` of ``Verdict``: the escalate use, after COMMIT (the item row is locked only
    once the verdict is durable)."""
    transaction.on_commit(lambda: escalate_after_verdict(instance))


def on_judge_saved(sender: Any, instance: Judge, update_fields: Any = None, **kwargs: Any) -> None:
    """``post_save`` of ``Judge``: the cached uses are forgotten (now and after COMMIT, so no
    reader caches the old ones in between), and turning the escalate use on re-decides the items
    it already contradicts (not on saves that only record spend)."""
    forget_uses()
    transaction.on_commit(forget_uses)
    if not instance.use_escalate or (update_fields is not None and "use_escalate" not in update_fields):
        return
    transaction.on_commit(lambda: escalate_existing(instance))


def on_judge_deleted(sender: Any, instance: Judge, **kwargs: Any) -> None:
    forget_uses()
    transaction.on_commit(forget_uses)
