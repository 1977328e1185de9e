"""Shared reads for annotation: who may label a stream, progress figures, the page's view of an item."""

from __future__ import annotations

import difflib
import functools
import html
import re
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from django.core.cache import cache
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from annotation import hooks
from annotation.models import Assignment, Item, Judgement
from annotation.strategies import QuestionFacts, StrategyCheck, check_strategies, response_length
from projects.models import Membership, Project, Stream, StreamMembership
from projects.rendering import render_markdown
from quorum import rows

# Statuses of people who have not qualified (yet): the item pages and the API answer them 404, as
# if the stream's items did not exist for them; the stream's home page sends them to the test.
NOT_QUALIFIED_STATUSES = frozenset(
    {StreamMembership.Status.INVITED, StreamMembership.Status.TESTING, StreamMembership.Status.FAILED}
)
STREAM_PROGRESS_CACHE_SECONDS = 60
DIFF_MAX_WORDS = 5000


def has_active_test(stream_ref: Any) -> Any:
    """SQL: the stream (``stream_ref``, e.g. ``OuterRef("pk")``) has an entry test its invited
    members must pass first (``hooks.entry_test_exists``: the qualification room's active test).
    Annotated in the same query as the standing: no extra round trip."""
    return hooks.entry_test_expression(stream_ref)


def may_receive_items(standing: str | None, has_test: bool) -> bool:
    """Who gets items: qualified members, and invited members of a stream without an active test."""
    return standing == StreamMembership.Status.QUALIFIED or (
        standing == StreamMembership.Status.INVITED and not has_test
    )


def streams_with_standing(user: Any) -> QuerySet[Stream]:
    """Streams with the user's project role (``role``), stream status (``standing``) and whether
    the stream has an active qualification test (``has_test``) annotated; ``role`` is None for
    someone outside the project, ``standing`` None for a member not invited."""
    return Stream.objects.select_related("project").annotate(
        role=Subquery(Membership.objects.filter(project=OuterRef("project"), user=user).values("role")[:1]),
        standing=Subquery(StreamMembership.objects.filter(stream=OuterRef("pk"), user=user).values("status")[:1]),
        has_test=has_active_test(OuterRef("pk")),
        guidelines_acknowledged=Subquery(
            StreamMembership.objects.filter(stream=OuterRef("pk"), user=user).values("guidelines_acknowledged")[:1]
        ),
    )


# The SQL twin of ``streams_with_standing``'s four annotations (keep the two in step), for the
# hand-written reads of the annotator's hot path below: the stream's alias is ``s``, the user's id
# ``%(user)s``.
_STANDING_SQL = """
    (SELECT m.role FROM projects_membership m WHERE m.project_id = s.project_id AND m.user_id = %(user)s),
    (SELECT sm.status FROM projects_streammembership sm WHERE sm.stream_id = s.id AND sm.user_id = %(user)s),
    {entry_test},
    (SELECT sm.guidelines_acknowledged FROM projects_streammembership sm
     WHERE sm.stream_id = s.id AND sm.user_id = %(user)s)"""


def _standing_sql() -> str:
    return _STANDING_SQL.format(entry_test=hooks.entry_test_condition())


def _stream_from(row: tuple[Any, ...], start: int) -> Stream:
    """The stream (with its project) and the user's standing from a row of ``_STANDING_SQL``'s shape."""
    stream = rows.instance(Stream, row, start)
    start += rows.width(Stream)
    stream.project = rows.instance(Project, row, start)
    start += rows.width(Project)
    stream.role, stream.standing, has_test, acknowledged = row[start : start + 4]  # type: ignore[attr-defined]
    stream.has_test = bool(has_test)  # type: ignore[attr-defined]
    # The last guideline version the user acknowledged (the item page's notice), None if not invited.
    stream.guidelines_acknowledged = acknowledged  # type: ignore[attr-defined]
    return stream


@functools.cache
def _stream_sql() -> str:
    return (
        f"SELECT {rows.columns(Stream, 's')}, {rows.columns(Project, 'p')}, {_standing_sql()} "  # noqa: S608 - column names from the models
        "FROM projects_stream s JOIN projects_project p ON p.id = s.project_id WHERE s.id = %(stream)s"
    )


def stream_with_standing(user: Any, stream_id: int) -> Stream | None:
    """One stream as ``streams_with_standing(user)`` gives it (project, ``role``, ``standing``,
    ``has_test``), or None. Hand-written SQL (``quorum.rows``): every item request runs it."""
    row = rows.fetch_one(_stream_sql(), {"user": user.pk, "stream": stream_id})
    return _stream_from(row, 0) if row is not None else None


@functools.cache
def _assignment_sql() -> str:
    return (
        f"SELECT {rows.columns(Assignment, 'a')}, {rows.columns(Item, 'i')}, {rows.columns(Stream, 's')}, "  # noqa: S608 - column names from the models
        f"{rows.columns(Project, 'p')}, {_standing_sql()} "
        "FROM annotation_assignment a JOIN annotation_item i ON i.id = a.item_id "
        "JOIN projects_stream s ON s.id = a.stream_id JOIN projects_project p ON p.id = s.project_id "
        "WHERE a.id = %(assignment)s AND a.annotator_id = %(user)s"
    )


def assignment_with_standing(user: Any, assignment_id: int) -> Assignment | None:
    """The user's own assignment with its item and its stream (project, the user's ``role``,
    ``standing``, ``has_test`` on the stream), or None (someone else's, or none). One query."""
    row = rows.fetch_one(_assignment_sql(), {"user": user.pk, "assignment": assignment_id})
    if row is None:
        return None
    assignment = rows.instance(Assignment, row)
    start = rows.width(Assignment)
    assignment.item = rows.instance(Item, row, start)
    assignment.stream = _stream_from(row, start + rows.width(Item))
    return assignment


def may_work(stream: Stream) -> bool:
    """For a stream from ``streams_with_standing``: may this user work in it now (label its items,
    or chat with its models in a dynamic stream)?"""
    return (
        getattr(stream, "role", None) is not None
        and may_receive_items(getattr(stream, "standing", None), bool(getattr(stream, "has_test", False)))
        and stream.status == Stream.Status.ACTIVE
    )


def can_annotate(stream: Stream) -> bool:
    """May this user receive the stream's static items?"""
    return may_work(stream) and stream.mode == Stream.Mode.STATIC


def labeling_streams_for(user: Any) -> list[Stream]:
    """The streams (static and dynamic) the user was invited to (any standing but removed), best first."""
    return list(
        streams_with_standing(user)
        .filter(project__archived=False, stream_memberships__user=user)
        .exclude(stream_memberships__status=StreamMembership.Status.REMOVED)
        .order_by("-priority", "project__name", "name")
    )


@dataclass(frozen=True)
class Progress:
    mine_today: int
    mine_total: int
    # Of mine_total: taken out of the count by QC or a review (``Judgement.excluded_reason``).
    mine_excluded: int = 0


def annotator_progress(*, stream: Stream, annotator: Any, now: datetime | None = None) -> Progress:
    """The annotator's judgements in the stream: today (UTC day), in total, and how many of them
    QC or a review took out of the count. One indexed query."""
    now = now or timezone.now()
    start_of_day = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
    row = Judgement.objects.filter(annotator=annotator, stream=stream, is_current=True).aggregate(
        total=Count("id"),
        today=Count("id", filter=Q(submitted_at__gte=start_of_day)),
        excluded=Count("id", filter=Q(excluded_reason__isnull=False)),
    )
    return Progress(mine_today=row["today"], mine_total=row["total"], mine_excluded=row["excluded"])


@dataclass(frozen=True)
class StreamProgress:
    """``judgements``: counted judgements (excluded ones no longer count); ``needed``: what the
    items' targets add up to (the overlap per item; with adaptive overlap, n for an item that
    stopped early, so it shrinks as items stop); ``complete``: items at their target;
    ``stopped_early``: items whose first n judgements agreed (adaptive overlap); ``excluded``:
    judgements QC or a review took out of the count, on ``reopened`` items (each got the slot
    back and collects another judgement)."""

    items: int
    complete: int
    judgements: int
    needed: int
    stopped_early: int = 0
    excluded: int = 0
    reopened: int = 0

    @property
    def percent(self) -> int:
        return int(100 * self.judgements / self.needed) if self.needed else 100


def stream_progress(stream: Stream) -> StreamProgress:
    """Whole-stream figures for the stream home. Aggregating a million items is not free, so the
    figures are cached for a minute (the page says "about")."""
    adaptive = stream.adaptive_overlap and stream.adaptive_min_agree < stream.overlap
    n = stream.adaptive_min_agree if adaptive else stream.overlap
    key = f"annotation:stream-progress:{stream.pk}:{stream.overlap}:{n}"
    cached = cache.get(key)
    if cached is not None:
        return StreamProgress(**cached)
    stopped = Q(first_agreed=True) if adaptive else Q(pk__in=[])
    row = Item.objects.filter(stream=stream, pool=Item.Pool.WORK, is_golden=False).aggregate(
        items=Count("id"),
        complete=Count("id", filter=Q(judgement_count__gte=stream.overlap) | (stopped & Q(judgement_count__gte=n))),
        stopped_early=Count("id", filter=stopped),
        judgements=Sum("judgement_count"),
    )
    excluded = Judgement.objects.filter(stream=stream, excluded_reason__isnull=False, counted=True).aggregate(
        n=Count("id"), items=Count("item", distinct=True)
    )
    figures = {
        "items": row["items"],
        "complete": row["complete"],
        "judgements": row["judgements"] or 0,
        "needed": row["items"] * stream.overlap - row["stopped_early"] * (stream.overlap - n),
        "stopped_early": row["stopped_early"],
        "excluded": excluded["n"],
        "reopened": excluded["items"],
    }
    cache.set(key, figures, STREAM_PROGRESS_CACHE_SECONDS)
    return StreamProgress(**figures)


FORECAST_DAYS = 7  # the recent window the estimated finish extrapolates from


@dataclass(frozen=True)
class StreamForecast:
    """Throughput and an estimated finish: ``per_day`` is the mean of counted judgements per day
    over the last ``days`` days (``recent`` in all), ``remaining`` the judgements the items'
    targets still need; ``finish`` is today + remaining / per_day when anything was judged
    recently (None otherwise: no rate, no estimate), ``days_left`` the same in days."""

    recent: int
    days: int
    last_24h: int
    remaining: int
    per_day: float
    finish: datetime | None
    days_left: float | None


def stream_forecast(stream: Stream, progress: StreamProgress, *, now: datetime | None = None) -> StreamForecast:
    """The stream page's throughput and estimated finish (a straight line from the last
    FORECAST_DAYS days' rate; it says nothing about a team that grows or stops). One query."""
    from datetime import timedelta

    now = now or timezone.now()
    row = Judgement.objects.filter(
        stream=stream, counted=True, submitted_at__gte=now - timedelta(days=FORECAST_DAYS)
    ).aggregate(recent=Count("id"), day=Count("id", filter=Q(submitted_at__gte=now - timedelta(hours=24))))
    remaining = max(0, progress.needed - progress.judgements)
    per_day = row["recent"] / FORECAST_DAYS
    days_left = remaining / per_day if per_day and remaining else (0.0 if not remaining else None)
    finish = now + timedelta(days=days_left) if days_left is not None else None
    return StreamForecast(
        recent=row["recent"],
        days=FORECAST_DAYS,
        last_24h=row["day"],
        remaining=remaining,
        per_day=round(per_day, 1),
        finish=finish,
        days_left=round(days_left, 1) if days_left is not None else None,
    )


# --- The item as the page shows it --------------------------------------------------------------
@dataclass(frozen=True)
class ShownResponse:
    label: str  # "A", "B", "C"... by display position
    position: int  # display position, 0-based
    text: str
    html: SafeString
    diff_html: SafeString | None


@dataclass(frozen=True)
class ShownMessage:
    role: str
    content: str  # as imported
    html: SafeString


def context_messages(item: Item) -> list[ShownMessage]:
    shown = []
    for message in item.context or []:
        role = str(message.get("role", "user")) if isinstance(message, dict) else "user"
        content = message.get("content", "") if isinstance(message, dict) else str(message)
        shown.append(
            ShownMessage(
                role=role if role in ("system", "user", "assistant") else "user",
                content=str(content),
                html=render_markdown(str(content)),
            )
        )
    return shown


def shown_responses(assignment: Assignment, *, diff: bool = True) -> list[ShownResponse]:
    """The item's responses in the assignment's display order, labelled A, B, ... by position.
    Model names are not shown (they would bias the judgement). ``diff=False`` skips the word diff
    (the API does not send it)."""
    responses = assignment.item.responses
    texts = []
    for canonical in assignment.display_order:
        response = responses[canonical] if canonical < len(responses) else {}
        texts.append(str(response.get("text", "")) if isinstance(response, dict) else str(response))
    rendered = [render_markdown(text) for text in texts]
    diffs: list[SafeString | None] = [None] * len(texts)
    if diff and len(texts) == 2:
        diffs[0], diffs[1] = rendered_diff(rendered[0], rendered[1])
    return [
        ShownResponse(label=chr(ord("A") + pos), position=pos, text=text, html=rendered[pos], diff_html=diffs[pos])
        for pos, text in enumerate(texts)
    ]


def suggestion_as_shown(assignment: Assignment, answer: str | None) -> str | None:
    """A model's canonical pick (``hooks.item_suggestion``) in the labels of the page: "A" / "B"
    by the position the response was shown in, "Tie"; None when nothing is shown (no pick, or
    the item is in the hold-out)."""
    if not answer:
        return None
    if answer == "tie":
        return "Tie"
    canonical = 0 if answer == "A" else 1 if answer == "B" else None
    if canonical is None or canonical not in assignment.display_order:
        return None
    return chr(ord("A") + list(assignment.display_order).index(canonical))


_TAG = re.compile(r"(<[^>]*>)")
_WORD = re.compile(r"\S+")
# Tags after which the reader sees a break: words on either side are two words, not one.
_BLOCK_TAG = re.compile(r"</?(p|li|ul|ol|h[1-6]|pre|blockquote|br|hr|tr|td|th|table|div|dd|dt)\b", re.IGNORECASE)


@dataclass(frozen=True)
class _Rendered:
    """Sanitised HTML split into tags and text pieces, with the text the reader sees joined."""

    parts: list[str]  # _TAG.split(html): text at even indices (unescaped), tags at odd ones
    spans: list[tuple[int, int, int]]  # (part index, start, end) of each text piece in ``joined``
    joined: str
    words: list[tuple[int, int]]  # (start, end) of each word in ``joined``


def _split_rendered(rendered: str) -> _Rendered:
    parts = _TAG.split(rendered)
    spans: list[tuple[int, int, int]] = []
    pieces: list[str] = []
    at = 0
    for index, part in enumerate(parts):
        if index % 2:  # a tag: a block boundary separates words; inline markup does not
            if _BLOCK_TAG.match(part):
                pieces.append("\n")
                at += 1
            continue
        text = html.unescape(part)
        parts[index] = text
        spans.append((index, at, at + len(text)))
        pieces.append(text)
        at += len(text)
    joined = "".join(pieces)
    return _Rendered(parts, spans, joined, [(m.start(), m.end()) for m in _WORD.finditer(joined)])


def _marked(doc: _Rendered, changed: list[tuple[int, int]], tag: str, css: str) -> SafeString:
    """The document's HTML with the ``changed`` ranges of ``joined`` wrapped in ``tag`` — split
    at tag boundaries, so the markup stays well-formed."""
    out = list(doc.parts)
    for index, start, end in doc.spans:
        text = doc.parts[index]
        pieces, cursor = [], start
        for c_start, c_end in changed:
            lo, hi = max(c_start, start), min(c_end, end)
            if lo >= hi:
                continue
            pieces.append(html.escape(text[cursor - start : lo - start], quote=False))
            pieces.append(f'<{tag} class="{css}">{html.escape(text[lo - start : hi - start], quote=False)}</{tag}>')
            cursor = hi
        pieces.append(html.escape(text[cursor - start :], quote=False))
        out[index] = "".join(pieces)
    # The tags are the sanitiser's output as it was; every piece of text went through html.escape.
    return mark_safe("".join(out))  # noqa: S308


def rendered_diff(a: SafeString, b: SafeString) -> tuple[SafeString | None, SafeString | None]:
    """Word-level differences between two rendered (sanitised) responses, compared on the text a
    reader sees — so ``**word**`` and ``word``, or ``*`` and ``-`` bullets, are no difference —
    and shown in the rendered HTML: words only in ``a`` marked ``<del>``, only in ``b``
    ``<ins>``. None for texts too long to diff quickly (``DIFF_MAX_WORDS``)."""
    da, db = _split_rendered(a), _split_rendered(b)
    if len(da.words) > DIFF_MAX_WORDS or len(db.words) > DIFF_MAX_WORDS:
        return None, None
    wa = [da.joined[s:e] for s, e in da.words]
    wb = [db.joined[s:e] for s, e in db.words]
    changed_a: list[tuple[int, int]] = []
    changed_b: list[tuple[int, int]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=wa, b=wb, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i2 > i1:
            changed_a.append((da.words[i1][0], da.words[i2 - 1][1]))
        if j2 > j1:
            changed_b.append((db.words[j1][0], db.words[j2 - 1][1]))
    return _marked(da, changed_a, "del", "diff-del"), _marked(db, changed_b, "ins", "diff-ins")


def golden_strategy_check(stream: Stream) -> StrategyCheck:
    """The trivial strategies (``annotation.strategies``) on the stream's pairwise golden work
    items, held against the gold accuracy below which the stream pauses an annotator
    (``min_gold_accuracy``): a strategy that scores at least that would never be paused on gold.
    Golden items are always served in a random response order (golden injection), so "always the
    first shown" is a coin flip."""
    items = Item.objects.filter(stream=stream, pool=Item.Pool.WORK, is_golden=True, num_responses=2).only(
        "golden_answers", "responses"
    )
    facts = [
        QuestionFacts(list(item.golden_answers or []), [response_length(r) for r in item.responses]) for item in items
    ]
    return check_strategies(facts, bar=stream.min_gold_accuracy, mark="pause threshold")


# --- The item browser (PMs and reviewers) -------------------------------------------------------
ITEM_AGREEMENT = ("unanimous", "split", "single", "none")
ITEM_STATUS = ("open", "complete")


def browse_items(
    stream: Stream,
    *,
    q: str = "",
    agreement: str = "",
    harmful: str = "",
    golden: str = "",
    status: str = "",
) -> QuerySet[Item]:
    """The stream's work items for the item browser, each annotated with ``judged`` (current
    judgements), ``choices`` (distinct answers among them) and ``harmful_flags`` (of those
    flagged harmful). Filters, each optional:

    - ``q``: text in the item's id, conversation or responses (case-insensitive);
    - ``agreement``: "unanimous" (≥ 2 judgements, one answer), "split" (≥ 2 different answers),
      "single" (one judgement), "none" (no judgement yet);
    - ``harmful``: "yes" (someone flagged it harmful) / "no";
    - ``golden``: "yes" / "no";
    - ``status``: "complete" (at its target: the overlap, or adaptive overlap's n when the first n
      agreed) / "open".

    Values outside these are ignored by the caller's form, never guessed here."""
    from django.db.models import CharField
    from django.db.models.functions import Cast

    # Per-item subqueries on the current-judgement index, not a join grouped over every item: a
    # page of 50 costs 50 probes whatever the stream's size (the join aggregated all 20,000 items
    # of a big stream before taking the first 50: half a second).
    current = Judgement.objects.filter(item=OuterRef("pk"), is_current=True).order_by().values("item_id")

    def per_item(aggregate: Any) -> Any:
        return Coalesce(Subquery(current.annotate(n=aggregate).values("n")[:1]), 0)

    items = Item.objects.filter(stream=stream, pool=Item.Pool.WORK).annotate(
        judged=per_item(Count("id")),
        choices=per_item(Count("choice", distinct=True)),
        harmful_flags=per_item(Count("id", filter=Q(flag_harmful=True))),
    )
    if q:
        items = items.annotate(
            context_text=Cast("context", CharField()), responses_text=Cast("responses", CharField())
        ).filter(Q(external_id__icontains=q) | Q(context_text__icontains=q) | Q(responses_text__icontains=q))
    if agreement == "unanimous":
        items = items.filter(judged__gte=2, choices=1)
    elif agreement == "split":
        items = items.filter(choices__gte=2)
    elif agreement == "single":
        items = items.filter(judged=1)
    elif agreement == "none":
        items = items.filter(judged=0)
    if harmful == "yes":
        items = items.filter(harmful_flags__gt=0)
    elif harmful == "no":
        items = items.filter(harmful_flags=0)
    if golden in ("yes", "no"):
        items = items.filter(is_golden=golden == "yes")
    adaptive = stream.adaptive_overlap and stream.adaptive_min_agree < stream.overlap
    complete = Q(judgement_count__gte=stream.overlap)
    if adaptive:
        complete |= Q(first_agreed=True, judgement_count__gte=stream.adaptive_min_agree)
    if status == "complete":
        items = items.filter(complete)
    elif status == "open":
        items = items.exclude(complete)
    return items.defer("responses", "metadata").order_by("pk")


LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_PLACES = {1: "first", 2: "second", 3: "third", 4: "fourth"}


def shown_place(position: int) -> str:
    """1 → "first", 2 → "second"…: where a response was shown."""
    return _PLACES.get(position, f"{position}th")


def seen_order(display_order: list[int] | None, n: int) -> list[str]:
    """The responses' file letters in the order the annotator saw them: [1, 0] -> ["B", "A"]."""
    order = list(display_order or range(n))
    return [LETTERS[i] for i in order if 0 <= i < len(LETTERS)]


def _axes_as_seen(axes: dict[str, Any], order: list[int]) -> str:
    """A multi-axis answer (``annotation.axes``) in the annotator's terms, one clause per axis:
    "answered more helpful: the response shown first (B in the file); safer: tie; shown first (B): unsafe
    (privacy), shown second (A): safe"."""

    def response(letter: str) -> str:
        index = LETTERS.index(letter)
        return (
            f"the response shown {shown_place(order.index(index) + 1)} ({letter} in the file)"
            if index in order
            else letter
        )

    def answer(value: Any) -> str:
        return response(value) if value in ("A", "B") else str(value)

    if "attributes" in axes:
        return "answered " + "; ".join(f"{name}: {answer(v)}" for name, v in (axes.get("attributes") or {}).items())
    parts = [f"more helpful: {answer(axes.get('helpful'))}", f"safer: {answer(axes.get('safer'))}"]
    harm = list(axes.get("harm") or [])
    for index, safe in enumerate(axes.get("safe") or []):
        letter = LETTERS[index]
        place = f"shown {shown_place(order.index(index) + 1)} ({letter})" if index in order else letter
        category = harm[index] if index < len(harm) and harm[index] else ""
        verdict = "safe" if safe else "unsafe" + (f" ({category})" if category else "")
        parts.append(f"{place}: {verdict}")
    return "answered " + "; ".join(parts)


def answer_as_seen(judgement: Judgement) -> str:
    """The judgement in the annotator's terms: "chose the response shown first (B in the file)".
    ``choice`` is canonical (A = the file's first response); ``display_order[k]`` is the file
    index of the response shown in place k + 1."""
    order = list(judgement.display_order or [])
    if judgement.axes:
        return _axes_as_seen(judgement.axes, order)
    if judgement.choice in ("A", "B"):
        index = LETTERS.index(judgement.choice)
        place = f"shown {shown_place(order.index(index) + 1)} " if index in order else ""
        text = f"chose the response {place}({judgement.choice} in the file)"
        if judgement.strength:
            text += f", {judgement.get_strength_display().lower()}"
        return text
    if judgement.choice == "tie":
        return "judged the responses a tie"
    if judgement.choice == "both_bad":
        return "judged both responses bad"
    if judgement.ranking:
        groups = (
            " = ".join(
                f"shown {shown_place(order.index(i) + 1)} ({LETTERS[i]})" if i in order else LETTERS[i] for i in group
            )
            for group in judgement.ranking
        )
        return "ranked " + " > ".join(groups)
    return "gave no answer"


# --- The program overview (project page) ------------------------------------------------------------
@dataclass(frozen=True)
class OverviewProgress:
    """Work items of a stream (golden and qualification items left out, as on the stream page) and
    how many reached their target (``stream_progress``'s definition: the overlap, or the adaptive
    stop); ``golden``: the stream's golden items."""

    items: int
    complete: int
    golden: int

    @property
    def share(self) -> float | None:
        return self.complete / self.items if self.items else None

    def to_dict(self) -> dict[str, int]:
        return {"items": self.items, "complete": self.complete, "golden": self.golden}


def overview_progress(streams: list[Stream]) -> dict[int, OverviewProgress]:
    """Items done / total and golden items of each of ``streams``: one grouped pass over their work
    items, cached a minute like ``stream_progress``. The program overview reads the figures the
    last QC computation stored (``qc``) and asks here only for streams never computed."""
    if not streams:
        return {}
    key = "annotation:overview-progress:" + ",".join(f"{s.pk}.{s.overlap}.{s.adaptive_min_agree}" for s in streams)
    cached: dict[int, OverviewProgress] | None = cache.get(key)
    if cached is not None:
        return cached
    adaptive = Q(stream__adaptive_overlap=True, stream__adaptive_min_agree__lt=F("stream__overlap"))
    complete = Q(judgement_count__gte=F("stream__overlap")) | (
        adaptive & Q(first_agreed=True, judgement_count__gte=F("stream__adaptive_min_agree"))
    )
    rows_ = (
        Item.objects.filter(stream_id__in=[s.pk for s in streams], pool=Item.Pool.WORK)
        .values("stream_id")
        .annotate(
            items=Count("id", filter=Q(is_golden=False)),
            complete=Count("id", filter=Q(is_golden=False) & complete),
            golden=Count("id", filter=Q(is_golden=True)),
        )
        .values_list("stream_id", "items", "complete", "golden")
        .order_by()
    )
    found = {stream_id: OverviewProgress(items, done, golden) for stream_id, items, done, golden in rows_}
    progress = {s.pk: found.get(s.pk, OverviewProgress(0, 0, 0)) for s in streams}
    cache.set(key, progress, STREAM_PROGRESS_CACHE_SECONDS)
    return progress


@dataclass(frozen=True)
class OverviewToday:
    """The last 24 hours of human work (model judges' verdicts left out): ``judgements`` counted
    judgements submitted, ``active`` distinct people who submitted anything."""

    judgements: int
    active: int


def streams_overview(streams: list[Stream], *, now: datetime | None = None) -> dict[int, dict[str, Any]]:
    """The live part of the program overview: each stream's last 24 hours (``today``). One grouped
    query over the (stream, submitted_at) index, whatever the number of streams; the longer
    figures come from the QC computation's stored snapshots (``qc.selectors.streams_overview``)."""
    from datetime import timedelta

    now = now or timezone.now()
    ids = [stream.pk for stream in streams]
    if not ids:
        return {}
    rows_ = (
        Judgement.objects.filter(stream_id__in=ids, submitted_at__gte=now - timedelta(hours=24))
        .exclude(source=Judgement.Source.MODEL)
        .values("stream_id")
        .annotate(judgements=Count("id", filter=Q(counted=True)), active=Count("annotator_id", distinct=True))
        .values_list("stream_id", "judgements", "active")
        .order_by()
    )
    today = {stream_id: OverviewToday(judgements, active) for stream_id, judgements, active in rows_}
    return {stream_id: {"today": today.get(stream_id, OverviewToday(0, 0))} for stream_id in ids}
