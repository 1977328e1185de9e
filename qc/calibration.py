"""Calibration rounds: a PM picks items of a stream (the most-disagreed ones, new edge cases) and
the stream's qualified annotators judge them blind, each with a short rationale, until the
deadline or until the PM closes the round. Then the round's page shows, per item, the distribution
of answers, the rationales without names and the PM's expected answer with its explanation, and
each annotator's alignment.

Answers are ``CalibrationAnswer`` rows, not judgements: an annotator may already have judged an
item of the round in the queue (an assignment is unique per item and annotator), and a round's
answers must not enter the QC figures, the queue's counts or the exports. They do not, by
construction: those read ``Judgement`` only. ``answers_for_export`` is the door the PM may open
(``CalibrationRound.include_in_exports``).

Definitions (docs/qc.md, "Calibration rounds"):

- **Alignment** of an annotator in a round: the share of their answers equal to the PM's expected
  answer (tie and both bad are answers like A and B), over the round's items that have an expected
  answer, with n and the 95% Wilson interval.
- **Agreement with the round's majority**: the share of their answers equal to the majority of the
  *other* answers to the same item (leave-one-out, as the annotator agreement of the Quality page);
  items where the others are split evenly at the top, or where nobody else answered, are left out.
- **Before and after** (the Quality page): the stream's figures (``qc.services.figures_in_windows``)
  over the judgements submitted in the ``WINDOW_DAYS`` days before the round opened and in the
  ``WINDOW_DAYS`` days after it closed, each with its n. Descriptive: no test compares them.
"""

from __future__ import annotations

import hashlib
import random
import re
import secrets
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.safestring import SafeString

from annotation.models import Assignment, Item
from projects import services as project_services
from projects.models import Stream, StreamMembership
from projects.rendering import render_markdown
from qc import golden
from qc.charts import wilson
from qc.models import CalibrationAnswer, CalibrationItem, CalibrationRound
from qc.services import WindowFigures, figures_in_windows
from qualification.models import QualificationQuestion

MAX_ITEMS = 50
WINDOW_DAYS = 14
ANSWERS = ("A", "B", "tie", "both_bad")
ANSWER_TEXT = {"A": "A is better", "B": "B is better", "tie": "Tie", "both_bad": "Both bad"}


class CalibrationError(ValueError):
    """A round cannot be opened, answered or changed as asked; the message says why."""


class RoundClosed(CalibrationError):
    """The round closed before the answer arrived."""


class StalePage(CalibrationError):
    """The post carried another key than the item's served row (an old page): nothing stored."""


# --- Who and what ---------------------------------------------------------------------------------
def stream_refusal(stream: Stream) -> str:
    """Why ``stream`` cannot have calibration rounds, or "". Pairwise streams only: a round's answer
    is one choice (A, B, tie, both bad), which other task kinds do not reduce to honestly."""
    if stream.task_kind != Stream.TaskKind.PAIRWISE:
        return (
            f"Calibration rounds are for pairwise streams; this stream is {stream.get_task_kind_display().lower()}, "
            "whose answers are not one choice."
        )
    return ""


def item_refusal(item: Item) -> str:
    """Why ``item`` cannot be in a round, or ""."""
    if item.pool != Item.Pool.WORK:
        return f"{item.external_id} is a qualification question: a round would publish its answer."
    if item.is_golden:
        return f"{item.external_id} is golden: a round would publish its answer to the annotators."
    if item.num_responses != 2 or len(item.responses or []) != 2:
        return f"{item.external_id} does not have exactly two responses."
    return ""


def is_participant(stream: Stream, user: Any) -> bool:
    """Annotators who take a stream's rounds: its qualified members (at the time they answer)."""
    return StreamMembership.objects.filter(
        stream=stream, user_id=user.pk, status=StreamMembership.Status.QUALIFIED
    ).exists()


def participants(stream: Stream) -> QuerySet[Any]:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(
        stream_memberships__stream=stream, stream_memberships__status=StreamMembership.Status.QUALIFIED
    )


# --- Writes ---------------------------------------------------------------------------------------
@transaction.atomic
def open_round(
    *,
    stream: Stream,
    title: str,
    deadline: datetime,
    item_ids: Iterable[int],
    created_by: Any,
    include_in_exports: bool = False,
    min_rationale_words: int = 3,
    now: datetime | None = None,
) -> CalibrationRound:
    """Opens a round of ``stream`` on ``item_ids`` (in that order, duplicates dropped) for the
    stream's qualified annotators, until ``deadline``. Raises ``CalibrationError`` when the stream,
    an item or the deadline does not fit (nothing is stored then)."""
    now = now or timezone.now()
    reason = stream_refusal(stream)
    if reason:
        raise CalibrationError(reason)
    if deadline <= now:
        raise CalibrationError("The deadline must be in the future.")
    ids = list(dict.fromkeys(int(i) for i in item_ids))
    if not ids:
        raise CalibrationError("Pick at least one item.")
    if len(ids) > MAX_ITEMS:
        raise CalibrationError(f"A round takes at most {MAX_ITEMS} items.")
    items = Item.objects.filter(stream=stream).in_bulk(ids)
    missing = [str(i) for i in ids if i not in items]
    if missing:
        raise CalibrationError(f"No such item in this stream: {', '.join(missing)}.")
    questions = set(QualificationQuestion.objects.filter(item_id__in=ids).values_list("item_id", flat=True))
    for item_id in ids:
        item = items[item_id]
        reason = item_refusal(item) or (
            f"{item.external_id} is a qualification question: a round would publish its answer."
            if item_id in questions
            else ""
        )
        if reason:
            raise CalibrationError(reason)
    round_ = CalibrationRound.objects.create(
        stream=stream,
        title=title,
        created_by=created_by,
        opened_at=now,
        deadline=deadline,
        include_in_exports=include_in_exports,
        min_rationale_words=min_rationale_words,
    )
    CalibrationItem.objects.bulk_create(
        CalibrationItem(round=round_, item_id=item_id, position=position) for position, item_id in enumerate(ids)
    )
    return round_


def set_expected(*, round_item: CalibrationItem, expected_answer: str, explanation: str) -> CalibrationItem:
    """The PM's expected answer (canonical: "A" is the item's first response) and why. May change
    while the round is open or after it closed (the results read it as it stands)."""
    round_item.expected_answer = expected_answer
    round_item.explanation = explanation
    round_item.save(update_fields=["expected_answer", "explanation"])
    return round_item


@transaction.atomic
def close_round(*, round_: CalibrationRound, closed_by: Any = None, now: datetime | None = None) -> bool:
    """Closes the round (a PM early: ``closed_by``; the periodic job at the deadline: None).
    Answers served but not submitted stay unanswered. False when it was already closed."""
    now = now or timezone.now()
    closed = CalibrationRound.objects.filter(pk=round_.pk, status=CalibrationRound.Status.OPEN).update(
        status=CalibrationRound.Status.CLOSED, closed_at=now, closed_by=closed_by
    )
    round_.refresh_from_db()
    return bool(closed)


def close_due_rounds(*, now: datetime | None = None) -> int:
    """The periodic job's work (``qc.tasks.close_calibration_rounds``): closes every open round
    whose deadline has passed. Returns how many it closed."""
    now = now or timezone.now()
    return CalibrationRound.objects.filter(status=CalibrationRound.Status.OPEN, deadline__lte=now).update(
        status=CalibrationRound.Status.CLOSED, closed_at=now, closed_by=None
    )


def next_for(*, round_: CalibrationRound, annotator: Any, now: datetime | None = None) -> CalibrationAnswer | None:
    """The annotator's current item of an open round: the first (by position) they have not
    submitted, its row made on first serve with a fresh A/B order and key (a reload shows the
    same order). None when they answered every item."""
    for round_item in round_.items.select_related("item").order_by("position"):
        answer = CalibrationAnswer.objects.filter(round_item=round_item, annotator_id=annotator.pk).first()
        if answer is not None and answer.submitted_at is not None:
            continue
        if answer is None:
            order = [0, 1]
            random.SystemRandom().shuffle(order)
            try:
                with transaction.atomic():
                    answer = CalibrationAnswer.objects.create(
                        round_item=round_item,
                        annotator_id=annotator.pk,
                        display_order=order,
                        served_at=now or timezone.now(),
                        idempotency_key=secrets.token_hex(16),
                    )
            except IntegrityError:  # served in another tab at the same moment
                answer = CalibrationAnswer.objects.get(round_item=round_item, annotator_id=annotator.pk)
        answer.round_item = round_item
        return answer
    return None


def progress(round_: CalibrationRound, annotator: Any) -> tuple[int, int]:
    """(submitted by the annotator, items in the round)."""
    total = round_.items.count()
    done = CalibrationAnswer.objects.filter(
        round_item__round=round_, annotator_id=annotator.pk, submitted_at__isnull=False
    ).count()
    return done, total


@dataclass(frozen=True)
class Submitted:
    answer: CalibrationAnswer
    created: bool  # False: that key's answer was already stored (a double submit); nothing changed


def submit_answer(
    *,
    answer: CalibrationAnswer,
    idempotency_key: str,
    choice: str,
    strength: int | None,
    rationale: str,
    now: datetime | None = None,
) -> Submitted:
    """Stores the annotator's answer (``choice`` canonical) on their served row, once. A second
    post of the same page (same key) stores nothing and says so; a post from another page than
    the one served raises ``StalePage``; a post after the round closed raises ``RoundClosed``."""
    now = now or timezone.now()
    with transaction.atomic():
        row = CalibrationAnswer.objects.select_for_update().select_related("round_item__round").get(pk=answer.pk)
        if row.idempotency_key != idempotency_key:
            raise StalePage("That page was out of date; nothing was stored. Here is the item again.")
        if row.submitted_at is not None:
            return Submitted(row, created=False)
        round_ = row.round_item.round
        if round_.status != CalibrationRound.Status.OPEN or round_.deadline <= now:
            raise RoundClosed("The round has closed: your answer was not stored.")
        row.choice = choice
        row.strength = strength if choice in ("A", "B") else None
        row.rationale = rationale
        row.submitted_at = now
        row.save(update_fields=["choice", "strength", "rationale", "submitted_at"])
    return Submitted(row, created=True)


@dataclass(frozen=True)
class Promoted:
    what: str
    message: str


def promote_to_golden(*, round_item: CalibrationItem) -> Promoted:
    """Makes the item golden with the expected answer as its one acceptable answer and the
    explanation as its explanation (``qc.golden.set_golden``)."""
    if not round_item.expected_answer:
        raise CalibrationError("Set the expected answer first.")
    item = round_item.item
    if item.pool != Item.Pool.WORK:
        raise CalibrationError(f"{item.external_id} is a qualification question; it cannot be golden.")
    golden.set_golden(
        item=item, answers=[round_item.expected_answer], explanation=round_item.explanation, harmful=False
    )
    return Promoted("golden", f"{item.external_id} is golden: acceptable answer {round_item.expected_answer}.")


EXCERPT_CHARS = 600


def _quote(text: str) -> str:
    text = text.strip()
    if len(text) > EXCERPT_CHARS:
        text = text[:EXCERPT_CHARS].rstrip() + " …"
    return "\n".join("> " + line if line else ">" for line in text.splitlines()) or ">"


def guideline_example(round_item: CalibrationItem) -> str:
    """The markdown a promotion appends to the guidelines: the prompt and both responses
    (quoted, cut at ``EXCERPT_CHARS``), the expected answer and the explanation."""
    item = round_item.item
    responses = [str(r.get("text", "")) if isinstance(r, dict) else str(r) for r in item.responses]
    parts = [
        f"### Example: {item.external_id}",
        "",
        "**Prompt**",
        "",
        _quote(item.prompt_text),
        "",
    ]
    for letter, text in zip("AB", responses, strict=False):
        parts += [f"**Response {letter}**", "", _quote(text), ""]
    parts += [f"**Expected answer:** {ANSWER_TEXT[round_item.expected_answer]}.", ""]
    if round_item.explanation.strip():
        parts += [round_item.explanation.strip(), ""]
    return "\n".join(parts)


def promote_to_guidelines(*, round_item: CalibrationItem, author: Any) -> Promoted:
    """Appends the item, the expected answer and the explanation to the stream's guidelines as an
    example: a new guideline version (``projects.services.update_stream``, with a change note
    naming the round), so the annotators get the "guidelines changed" notice with the diff."""
    if not round_item.expected_answer:
        raise CalibrationError("Set the expected answer first.")
    round_ = round_item.round
    stream = Stream.objects.get(pk=round_.stream_id)
    text = stream.guidelines.rstrip()
    heading = "" if "## Calibration examples" in text else "\n\n## Calibration examples"
    new_text = f"{text}{heading}\n\n{guideline_example(round_item)}".lstrip()
    stream = project_services.update_stream(
        stream=stream,
        author=author,
        change_note=f"Calibration example from the round “{round_.title}”"[:500],
        guidelines=new_text,
    )
    return Promoted(
        "guidelines",
        f"Added to the guidelines as an example: version {stream.guideline_version} (annotators see the change).",
    )


# --- Results --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rationale:
    label: str  # "Annotator 3": a number per round, not tied to the user id
    answer: str  # in the item's canonical terms ("A is better, clearly")
    text: str


@dataclass
class ItemResult:
    round_item: CalibrationItem
    counts: dict[str, int]  # canonical answer -> answers
    n: int
    majority: str | None  # the most frequent answer; None on a tie at the top or no answer
    rationales: list[Rationale] = field(default_factory=list)


@dataclass(frozen=True)
class Alignment:
    """One annotator's figures in one round: ``k`` of ``n`` answers equal the expected answer
    (with the 95% Wilson interval) and ``mk`` of ``mn`` the others' majority."""

    user_id: int
    label: str
    answered: int
    k: int
    n: int
    interval: tuple[float, float] | None
    mk: int
    mn: int

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None

    @property
    def majority_value(self) -> float | None:
        return self.mk / self.mn if self.mn else None


@dataclass
class RoundResults:
    round: CalibrationRound
    items: list[ItemResult]
    alignments: list[Alignment]  # in label order
    participants: int  # qualified annotators now

    def alignment_of(self, user_id: int) -> Alignment | None:
        return next((a for a in self.alignments if a.user_id == user_id), None)


def labels(round_: CalibrationRound, user_ids: Iterable[int]) -> dict[int, str]:
    """ "Annotator 1..k" for a round's answerers, in an order drawn from a keyed hash of the round
    and the user (stable across page views, unrelated to user ids or to who answered first)."""

    def key(user_id: int) -> str:
        return hashlib.sha256(f"{settings.SECRET_KEY}:calibration:{round_.pk}:{user_id}".encode()).hexdigest()

    ordered = sorted(set(user_ids), key=key)
    return {user_id: f"Annotator {number}" for number, user_id in enumerate(ordered, start=1)}


def _redactor(names: dict[int, str]) -> Any:
    """Replaces the answerers' usernames, names and e-mail addresses in a rationale by their round
    labels: a rationale is free text, and people sign (or name a colleague) without thinking."""
    from django.contrib.auth import get_user_model

    swaps: list[tuple[str, str]] = []
    for pk, username, email, first, last in (
        get_user_model()
        .objects.filter(pk__in=list(names))
        .values_list("pk", "username", "email", "first_name", "last_name")
    ):
        for word in (email, username, f"{first} {last}".strip(), first, last):
            if word and len(word) >= 3:
                swaps.append((word, names[pk]))
    swaps.sort(key=lambda swap: -len(swap[0]))  # the e-mail before the username inside it
    if not swaps:
        return lambda text: text
    pattern = re.compile("|".join(rf"(?<!\w){re.escape(word)}(?!\w)" for word, _label in swaps), re.IGNORECASE)
    by_word = {word.lower(): label for word, label in swaps}
    return lambda text: pattern.sub(lambda m: f"[{by_word[m.group(0).lower()]}]", text)


def answer_text(choice: str, strength: int | None) -> str:
    text = ANSWER_TEXT.get(choice, choice)
    if choice in ("A", "B") and strength:
        text += ", " + {1: "slightly", 2: "clearly", 3: "much"}.get(strength, "")
    return text


def _majority(counts: Counter[str]) -> str | None:
    if not counts:
        return None
    ranked = counts.most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]


def results(round_: CalibrationRound) -> RoundResults:
    """The round's results as they stand (the annotator-facing page shows them after close only):
    per item the distribution, the majority and the anonymised rationales (in label order), per
    annotator the alignment with the expected answers and with the others' majority. 3 queries."""
    round_items = list(round_.items.select_related("item").order_by("position"))
    answers = list(
        CalibrationAnswer.objects.filter(round_item__round=round_, submitted_at__isnull=False).order_by("id")
    )
    names = labels(round_, [a.annotator_id for a in answers])
    redact = _redactor(names)
    by_item: dict[int, list[CalibrationAnswer]] = {ri.pk: [] for ri in round_items}
    for answer in answers:
        by_item[answer.round_item_id].append(answer)
    item_results = []
    matches: Counter[int] = Counter()
    with_expected: Counter[int] = Counter()
    majority_matches: Counter[int] = Counter()
    majority_n: Counter[int] = Counter()
    answered: Counter[int] = Counter()
    for ri in round_items:
        rows = by_item[ri.pk]
        counts = Counter(a.choice for a in rows)
        rationales = sorted(
            (Rationale(names[a.annotator_id], answer_text(a.choice, a.strength), redact(a.rationale)) for a in rows),
            key=lambda r: int(r.label.rsplit(" ", 1)[1]),
        )
        item_results.append(
            ItemResult(ri, {c: counts[c] for c in ANSWERS if counts[c]}, len(rows), _majority(counts), rationales)
        )
        for a in rows:
            answered[a.annotator_id] += 1
            if ri.expected_answer:
                with_expected[a.annotator_id] += 1
                matches[a.annotator_id] += a.choice == ri.expected_answer
            others = counts.copy()
            others[a.choice] -= 1
            others += Counter()  # drops the zero
            majority = _majority(others)
            if majority is not None:
                majority_n[a.annotator_id] += 1
                majority_matches[a.annotator_id] += a.choice == majority
    alignments = sorted(
        (
            Alignment(
                user_id=user_id,
                label=label,
                answered=answered[user_id],
                k=matches[user_id],
                n=with_expected[user_id],
                interval=wilson(matches[user_id], with_expected[user_id]),
                mk=majority_matches[user_id],
                mn=majority_n[user_id],
            )
            for user_id, label in names.items()
        ),
        key=lambda a: int(a.label.rsplit(" ", 1)[1]),
    )
    return RoundResults(round_, item_results, alignments, participants(round_.stream).count())


def open_progress(round_: CalibrationRound) -> list[dict[str, Any]]:
    """While a round is open (the PM's page): per participant, how many items they submitted.
    Names are shown: the page is the PM's."""
    submitted = dict(
        CalibrationAnswer.objects.filter(round_item__round=round_, submitted_at__isnull=False)
        .values_list("annotator_id")
        .annotate(n=Count("id"))
    )
    people = participants(round_.stream).order_by("username")
    return [{"user": user, "submitted": submitted.get(user.pk, 0)} for user in people]


# --- The annotator's own results (My quality) -----------------------------------------------------
def withheld(round_items: list[CalibrationItem], viewer: Any) -> set[int]:
    """Round items (their ids) whose results an annotator does not see yet: golden items (the
    results would publish their answer) and items still collecting judgements that the viewer has
    not had (the answers would steer a judgement still to be made: the gallery's rule,
    ``qc.gallery``)."""
    ids = [ri.item_id for ri in round_items]
    had = Exists(Assignment.objects.filter(item=OuterRef("pk"), annotator_id=viewer.pk))
    shown = set(
        Item.objects.filter(pk__in=ids)
        .filter(Q(is_open=False, claim_count=F("judgement_count")) | Q(had))
        .values_list("pk", flat=True)
    )
    return {ri.pk for ri in round_items if ri.item.is_golden or ri.item_id not in shown}


@dataclass(frozen=True)
class MyItem:
    round_item: CalibrationItem
    mine: str
    expected: str  # "" when the PM set none or it is held back
    matched: bool | None
    explanation_html: SafeString | str
    held_back: bool


@dataclass(frozen=True)
class MyRound:
    round: CalibrationRound
    alignment: Alignment | None
    items: list[MyItem]


def my_results(*, stream: Stream, user: Any) -> list[MyRound]:
    """The closed rounds of ``stream`` the user answered, newest first: their alignment and, per
    item, their answer against the expected one with its explanation. Nothing of an open round
    (the expected answers are not out yet), nobody else's answer or name."""
    rounds = CalibrationRound.objects.filter(
        stream=stream,
        status=CalibrationRound.Status.CLOSED,
        items__answers__annotator_id=user.pk,
        items__answers__submitted_at__isnull=False,
    ).distinct()
    out = []
    for round_ in rounds.order_by("-closed_at", "-id"):
        result = results(round_)
        mine = {
            a.round_item_id: a
            for a in CalibrationAnswer.objects.filter(
                round_item__round=round_, annotator_id=user.pk, submitted_at__isnull=False
            )
        }
        held = withheld([r.round_item for r in result.items], user)
        items = []
        for r in result.items:
            ri = r.round_item
            if ri.pk not in mine:
                continue
            shown = ri.pk not in held and bool(ri.expected_answer)
            items.append(
                MyItem(
                    round_item=ri,
                    mine=answer_text(mine[ri.pk].choice, mine[ri.pk].strength),
                    expected=ANSWER_TEXT.get(ri.expected_answer, "") if shown else "",
                    matched=(mine[ri.pk].choice == ri.expected_answer) if shown else None,
                    explanation_html=render_markdown(ri.explanation) if shown and ri.explanation else "",
                    held_back=ri.pk in held,
                )
            )
        out.append(MyRound(round_, result.alignment_of(user.pk), items))
    return out


# --- For annotators: rounds to take ---------------------------------------------------------------
@dataclass(frozen=True)
class Pending:
    round: CalibrationRound
    items: int
    done: int


def pending_for(*, stream: Stream, user: Any, now: datetime | None = None) -> list[Pending]:
    """The open rounds of ``stream`` the user has items left in (qualified members only)."""
    now = now or timezone.now()
    if not is_participant(stream, user):
        return []
    rounds = (
        CalibrationRound.objects.filter(stream=stream, status=CalibrationRound.Status.OPEN, deadline__gt=now)
        .annotate(
            n_items=Count("items", distinct=True),
            n_done=Count(
                "items__answers",
                filter=Q(items__answers__annotator_id=user.pk, items__answers__submitted_at__isnull=False),
                distinct=True,
            ),
        )
        .order_by("deadline")
    )
    return [Pending(r, r.n_items, r.n_done) for r in rounds if r.n_done < r.n_items]


# --- The Quality page: agreement before and after each round ----------------------------------------
@dataclass(frozen=True)
class BeforeAfter:
    round: CalibrationRound
    before: WindowFigures
    after: WindowFigures
    after_complete: bool  # False: the after-window has not ended yet (still filling)

    @property
    def sides(self) -> list[tuple[str, WindowFigures]]:
        return [("Before", self.before), ("After", self.after)]


def before_and_after(*, stream: Stream, now: datetime | None = None) -> list[BeforeAfter]:
    """For each closed round of the stream (newest first): the stream's figures over the current
    judgements submitted in the ``WINDOW_DAYS`` days before it opened and in the ``WINDOW_DAYS``
    days after it closed (``qc.services.figures_in_windows``)."""
    now = now or timezone.now()
    rounds = list(
        CalibrationRound.objects.filter(stream=stream, status=CalibrationRound.Status.CLOSED).order_by(
            "-closed_at", "-id"
        )
    )
    span = timedelta(days=WINDOW_DAYS)
    windows: list[tuple[datetime, datetime]] = []
    for round_ in rounds:
        assert round_.closed_at is not None  # closed rounds have a time (a check constraint)
        windows += [(round_.opened_at - span, round_.opened_at), (round_.closed_at, round_.closed_at + span)]
    figures = figures_in_windows(stream=stream, windows=windows)
    return [
        BeforeAfter(
            round_,
            figures[2 * i],
            figures[2 * i + 1],
            after_complete=round_.closed_at is not None and round_.closed_at + span <= now,
        )
        for i, round_ in enumerate(rounds)
    ]


# --- Exports --------------------------------------------------------------------------------------
def answers_for_export(stream_ids: Iterable[int], max_time: datetime) -> list[tuple[Any, ...]]:
    """The answers of closed rounds whose PM chose ``include_in_exports``, of ``stream_ids``, closed
    and submitted at or before ``max_time``, in the shape of the export's judgement vote rows
    (``exports.services._FIELDS``): (id, item_id, stream_id, annotator_id, choice, strength,
    ranking, flag_harmful, flag_pii, flag_cannot_judge). ``id`` is the ``CalibrationAnswer``'s own
    id (another table than judgements: never to be looked up among judgement ids); ``ranking`` is
    None and the flags False (a round asks for none of them). Ordered by item, then id."""
    rows = (
        CalibrationAnswer.objects.filter(
            round_item__round__stream_id__in=list(stream_ids),
            round_item__round__status=CalibrationRound.Status.CLOSED,
            round_item__round__include_in_exports=True,
            round_item__round__closed_at__lte=max_time,
            submitted_at__isnull=False,
            submitted_at__lte=max_time,
        )
        .order_by("round_item__item_id", "id")
        .values_list("id", "round_item__item_id", "round_item__round__stream_id", "annotator_id", "choice", "strength")
    )
    return [(*row, None, False, False, False) for row in rows]


def included_in_exports(stream_ids: Iterable[int]) -> bool:
    """Whether any closed round of these streams lets its answers into exports."""
    return CalibrationRound.objects.filter(
        stream_id__in=list(stream_ids), status=CalibrationRound.Status.CLOSED, include_in_exports=True
    ).exists()
