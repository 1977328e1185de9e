"""The example gallery: judgements a PM or reviewer marks as *exemplary* or as an *instructive
mistake*, with a note, shown to the stream's annotators without any name.

What an annotator sees of an example: the item's context and responses (canonical order, labelled
A, B, ...; no model names, as on the item page), the answer and the note. Never who made the
judgement or who marked it, never the rationale (free text, it may sign itself), never an id but
the example's own.

Two rules keep the gallery from hurting the data:
- golden items and qualification questions cannot be marked (the gallery would publish their
  answers);
- an annotator sees an example only once its item has stopped collecting judgements (closed, no
  live lease) or after they have had the item themselves: the chosen answer must not steer a
  judgement still to be made. PMs and reviewers see every example, with the held-back ones marked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import BooleanField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.safestring import SafeString

from annotation import selectors as annotation_selectors
from annotation.models import Assignment, Item, Judgement
from projects.models import Stream
from projects.rendering import render_markdown
from qc.models import GalleryExample

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class NotGalleryMaterial(ValueError):
    """The judgement cannot go to the gallery (a golden item, a test question, a model's verdict)."""


def refusal(judgement: Judgement) -> str:
    """Why ``judgement`` cannot be marked, or "" when it can."""
    item = judgement.item
    if item.is_golden:
        return "Golden items cannot go to the gallery: it would show their answers to annotators."
    if item.pool != Item.Pool.WORK:
        return "Qualification questions cannot go to the gallery: it would show their answers to candidates."
    if judgement.source == Judgement.Source.MODEL:
        return "A model judge's verdict is not an annotator's work."
    return ""


@transaction.atomic
def mark_example(*, judgement: Judgement, kind: str, note: str, marked_by: Any) -> GalleryExample:
    """Puts ``judgement`` in its stream's gallery as ``kind`` with ``note`` (or changes the kind
    and note of the entry it has). Raises ``NotGalleryMaterial`` (``refusal``)."""
    reason = refusal(judgement)
    if reason:
        raise NotGalleryMaterial(reason)
    example, _created = GalleryExample.objects.update_or_create(
        judgement=judgement,
        defaults={
            "stream_id": judgement.stream_id,
            "kind": kind,
            "note": note,
            "marked_by": marked_by,
            "updated_at": timezone.now(),
        },
    )
    return example


def remove_example(*, example: GalleryExample) -> None:
    example.delete()


# --- reading -------------------------------------------------------------------------------------
def _settled(viewer: Any) -> Q:
    """Examples an annotator may see: the item stopped collecting (closed, and every slot is a
    judgement: no live lease that could end and reopen it), or the viewer has had the item."""
    had_it = Exists(Assignment.objects.filter(item=OuterRef("judgement__item"), annotator=viewer))
    return Q(judgement__item__is_open=False, judgement__item__claim_count=F("judgement__item__judgement_count")) | Q(
        had_it
    )


def examples_for(*, stream: Stream, viewer: Any, sees_all: bool) -> QuerySet[GalleryExample]:
    """The stream's examples, newest first, with their judgements and items. ``sees_all`` (PMs and
    reviewers) also gets the examples held back from annotators, annotated ``shown`` False."""
    qs = GalleryExample.objects.filter(stream=stream).select_related("judgement__item").order_by("-created_at", "-id")
    if sees_all:
        return qs.annotate(shown=ExpressionWrapper(_settled(viewer), output_field=BooleanField()))
    return qs.filter(_settled(viewer))


@dataclass(frozen=True)
class GalleryResponse:
    label: str
    text: str
    html: SafeString
    chosen: bool


@dataclass(frozen=True)
class GalleryEntry:
    """One example as the gallery shows it: no person in it."""

    id: int
    kind: str
    kind_label: str
    note: str
    answer: str
    context: list[Any]
    responses: list[GalleryResponse]
    marked_at: datetime
    shown: bool  # False: held back from annotators (PMs and reviewers see it)


def answer_text(judgement: Judgement) -> str:
    """The answer in the gallery's terms (canonical letters: A is the first response shown)."""
    if judgement.choice in ("A", "B"):
        strength = f", {judgement.get_strength_display().lower()}" if judgement.strength else ""
        return f"{judgement.choice} is better{strength}"
    if judgement.choice == "tie":
        return "A tie"
    if judgement.choice == "both_bad":
        return "Both bad"
    if judgement.ranking:
        return "Ranked " + " > ".join(" = ".join(LETTERS[i] for i in group) for group in judgement.ranking)
    return "No answer"


def _chosen(judgement: Judgement) -> set[int]:
    if judgement.choice in ("A", "B"):
        return {LETTERS.index(judgement.choice)}
    if judgement.ranking:
        return set(judgement.ranking[0])
    return set()


def entry(example: GalleryExample) -> GalleryEntry:
    judgement = example.judgement
    item = judgement.item
    chosen = _chosen(judgement)
    responses = []
    for index, response in enumerate(item.responses or []):
        text = str(response.get("text", "")) if isinstance(response, dict) else str(response)
        responses.append(GalleryResponse(LETTERS[index], text, render_markdown(text), index in chosen))
    return GalleryEntry(
        id=example.pk,
        kind=example.kind,
        kind_label=example.get_kind_display(),
        note=example.note,
        answer=answer_text(judgement),
        context=annotation_selectors.context_messages(item),
        responses=responses,
        marked_at=example.created_at,
        shown=bool(getattr(example, "shown", True)),
    )
