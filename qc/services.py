"""Writes of the qc app's metrics engine: full recomputes of a stream's QC figures into
``MetricSnapshot`` rows, and the cheap gold-accuracy update made on each golden submit.

The figures themselves are defined (and computed) in ``qc.metrics``; this module only loads a
stream's rows into arrays, calls it, and stores the result. Pages and the API read snapshots
through ``qc.selectors``; they never recompute.

Snapshots of one full run share one ``computed_at`` and a stream-level ``run`` row marks the run
(its details: how many judgements, how long it took). Older runs are thinned as new ones land: on
each past day only the day's last run is kept (history for charts), and nothing older than
``SNAPSHOT_RETENTION_DAYS``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import Case, Count, Exists, FloatField, Func, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Length
from django.utils import timezone
from scipy.stats import binomtest

from annotation import selectors as annotation_selectors
from annotation.models import Assignment, Item, ItemEscalation, Judgement
from judging.models import Judge, Verdict
from projects.models import GuidelineVersion, Stream
from qc import charts, golden, judge_quality, metrics
from qc.models import MetricSnapshot, Review
from qc.selectors import RUN_METRIC

SNAPSHOT_RETENTION_DAYS = 90
_NO_ID = -1


@dataclass
class StreamMetrics:
    """What one full run computed: per window ("all", "recent") the figures, and the annotators'
    user ids in the order of ``Figures.annotators``."""

    stream_id: int
    computed_at: datetime
    annotator_ids: list[int]
    windows: dict[str, metrics.Figures]
    seconds: float
    # The arrays the figures came from (window "all"): the drift detectors read them.
    data: metrics.StreamData | None = field(default=None, repr=False)


def thresholds_for(stream: Stream) -> metrics.Thresholds:
    return metrics.Thresholds(
        min_sample=stream.min_sample,
        min_gold_count=stream.min_gold_count,
        min_gold_accuracy=stream.min_gold_accuracy,
        min_agreement=stream.min_agreement,
        min_seconds=stream.min_seconds,
    )


def compute_stream_metrics(*, stream: Stream, now: datetime | None = None) -> StreamMetrics:
    """Recomputes every QC figure of ``stream`` (``qc.metrics.compute_figures``) for the stream
    and each annotator, over all time (window "all") and the last ``metrics.RECENT_DAYS`` days
    (window "recent": judgements submitted, assignments skipped and judgements reviewed in that
    window), and stores them as ``MetricSnapshot`` rows in one ``bulk_create``.

    Reads the stream's *current* judgements on its work items (golden items included: they feed
    gold accuracy; agreement leaves them out). Queries: 5 reads (items, judgements, skips,
    reviews, users are not needed) and the writes (insert, thinning delete).
    """
    started = time.perf_counter()
    now = now or timezone.now()
    since = now - timedelta(days=metrics.RECENT_DAYS)
    data, annotator_ids, recent = _load(stream, since)
    thresholds = thresholds_for(stream)
    windows = {MetricSnapshot.Window.ALL.value: metrics.compute_figures(data, thresholds)}
    skipped, reviewed, rejected = recent
    windows[MetricSnapshot.Window.RECENT.value] = metrics.compute_figures(
        data.select(data.submitted_at >= since.timestamp(), skipped=skipped, reviewed=reviewed, rejected=rejected),
        thresholds,
    )
    windows[MetricSnapshot.Window.ALL.value].stream["reviewer_agreement"] = reviewer_agreement(stream, thresholds)
    judge = _load_judge(stream)
    if judge is not None:  # the model judge, apart from the people: stream figures named judge_*
        for figure in judge_quality.judge_figures(judge, thresholds):
            windows[MetricSnapshot.Window.ALL.value].stream[figure.metric] = figure
    seconds = time.perf_counter() - started
    result = StreamMetrics(stream.pk, now, annotator_ids, windows, seconds, data)
    _store(stream, result, n_judgements=data.n)
    return result


def _load_judge(stream: Stream) -> judge_quality.JudgeData | None:
    """The stream's model judge's verdicts, the people's counted, current, not excluded choices
    and the items' facts (``qc.judge_quality``); None when the stream has no judge. 4 queries."""
    judge = Judge.objects.filter(stream=stream).select_related("endpoint").first()
    if judge is None:
        return None
    verdicts = [
        judge_quality.VerdictRow(item_id, status == Verdict.Status.CONSISTENT, ab, ba)
        for item_id, status, ab, ba in Verdict.objects.filter(judge=judge)
        .exclude(status=Verdict.Status.ERROR)
        .values_list("item_id", "status", "answer_shown_ab", "answer_shown_ba")
    ]
    # The people's choices on the items the judge judged (its comparisons are on the same items).
    judged = Verdict.objects.filter(judge=judge, item_id=OuterRef("item_id"))
    human_rows = list(
        Judgement.objects.filter(
            stream=stream,
            is_current=True,
            counted=True,
            excluded_reason__isnull=True,
            choice__isnull=False,
            item__pool=Item.Pool.WORK,
        )
        .filter(Exists(judged))
        .exclude(source=Judgement.Source.MODEL)
        .values_list("item_id", "choice", "suggestion")
    )
    human = [(item_id, str(choice), suggestion) for item_id, choice, suggestion in human_rows]
    items = {
        pk: judge_quality.ItemFacts(bool(golden), list(answers or []), int(len_a or 0), int(len_b or 0))
        for pk, golden, answers, len_a, len_b in Item.objects.filter(stream=stream)
        .filter(Exists(Verdict.objects.filter(judge=judge, item=OuterRef("pk"))))
        .values_list(
            "pk",
            "is_golden",
            "golden_answers",
            Coalesce(Length(KT("responses__0__text")), Value(0)),
            Coalesce(Length(KT("responses__1__text")), Value(0)),
        )
    }
    escalations = ItemEscalation.objects.filter(stream=stream).count()
    details = {"judge": judge.endpoint.name, "judge_user_id": judge.user_id}
    return judge_quality.JudgeData(verdicts, human, items, escalations, details)


# The figures the Quality page splits by guideline version (stream level).
VERSION_SPLIT_METRICS = ("judgements", "alpha_nominal", "alpha_ordinal", "gold_accuracy", "labeling_time")


@dataclass(frozen=True)
class VersionFigures:
    """A stream's figures over the judgements made under one guideline version (``number`` None:
    before versions were recorded), with the version (None when unknown) and, for gold accuracy,
    its exact (Clopper–Pearson) 95% interval."""

    number: int | None
    version: GuidelineVersion | None
    figures: dict[str, metrics.Figure]
    gold_interval: tuple[float, float] | None


def figures_by_guideline_version(*, stream: Stream) -> list[VersionFigures]:
    """The Quality page's split: the stream-level figures of ``VERSION_SPLIT_METRICS`` computed
    (``metrics.compute_figures``, the same definitions as the page's) separately over the current
    judgements made under each guideline version, oldest first. Descriptive: each row carries its
    own n, and nothing is flagged or compared by a test here (the gold interval shows how much a
    row's n allows to read into a difference). Computed on request from the stream's rows (the
    periodic snapshots are not split)."""
    data, _annotator_ids, _recent = _load(stream, timezone.now() - timedelta(days=metrics.RECENT_DAYS))
    thresholds = thresholds_for(stream)
    versions = {v.number: v for v in GuidelineVersion.objects.filter(stream=stream).select_related("author")}
    none = np.zeros(data.n_annotators, dtype=np.int64)
    result = []
    for number in sorted({int(n) for n in data.guideline_version}):
        part = data.select(data.guideline_version == number, skipped=none, reviewed=none, rejected=none)
        figures = metrics.compute_figures(part, thresholds).stream
        shown = {name: figures[name] for name in VERSION_SPLIT_METRICS if name in figures}
        gold = shown.get("gold_accuracy")
        interval = None
        if gold is not None and gold.value is not None and gold.sample_size:
            correct = round(gold.value * gold.sample_size)
            ci = binomtest(correct, gold.sample_size).proportion_ci(confidence_level=0.95, method="exact")
            interval = (round(float(ci.low), 4), round(float(ci.high), 4))
        result.append(VersionFigures(number or None, versions.get(number) if number else None, shown, interval))
    return result


@dataclass(frozen=True)
class WindowFigures:
    """A stream's figures (``VERSION_SPLIT_METRICS``) over the current judgements submitted in
    [start, end), with the exact (Clopper–Pearson) 95% interval of gold accuracy."""

    start: datetime
    end: datetime
    figures: dict[str, metrics.Figure]
    gold_interval: tuple[float, float] | None


def figures_in_windows(*, stream: Stream, windows: Sequence[tuple[datetime, datetime]]) -> list[WindowFigures]:
    """The stream-level figures of ``VERSION_SPLIT_METRICS`` computed (``metrics.compute_figures``,
    the Quality page's definitions) separately over the current judgements submitted in each
    window [start, end). One load of the stream for all windows; computed on request (the periodic
    snapshots are not split). Descriptive: each window carries its own n; nothing is tested."""
    if not windows:
        return []
    data, _annotator_ids, _recent = _load(stream, timezone.now() - timedelta(days=metrics.RECENT_DAYS))
    thresholds = thresholds_for(stream)
    none = np.zeros(data.n_annotators, dtype=np.int64)
    result = []
    for start, end in windows:
        keep = (data.submitted_at >= start.timestamp()) & (data.submitted_at < end.timestamp())
        part = data.select(keep, skipped=none, reviewed=none, rejected=none)
        figures = metrics.compute_figures(part, thresholds).stream
        shown = {name: figures[name] for name in VERSION_SPLIT_METRICS if name in figures}
        gold = shown.get("gold_accuracy")
        interval = None
        if gold is not None and gold.value is not None and gold.sample_size:
            correct = round(gold.value * gold.sample_size)
            ci = binomtest(correct, gold.sample_size).proportion_ci(confidence_level=0.95, method="exact")
            interval = (round(float(ci.low), 4), round(float(ci.high), 4))
        result.append(WindowFigures(start, end, shown, interval))
    return result


@dataclass(frozen=True)
class Recompute:
    """What ``recompute_now`` did: ran the recompute here (``queued`` False; ``computed_at`` is the
    new run's time) or queued it for a worker (``queued`` True)."""

    stream_id: int
    queued: bool
    computed_at: datetime | None


def recompute_now(*, stream: Stream) -> Recompute:
    """The "Recompute now" of the Quality page and of the API: the stream's full QC recompute and
    then its QC rules, the job the periodic recompute queues (``qc.tasks.compute_stream_metrics_task``),
    for one stream at once. Without a broker (eager Celery: the embedded mode) it runs in this
    request; with workers it is queued and the page shows the new figures when the worker is done."""
    from django.conf import settings

    from qc import tasks  # qc.tasks uses qc.rules, which uses this module

    tasks.compute_stream_metrics_task.delay(stream.pk)
    if settings.CELERY_TASK_ALWAYS_EAGER:
        run = (
            MetricSnapshot.objects.filter(stream=stream, metric=RUN_METRIC, annotator=None)
            .order_by("-computed_at")
            .values_list("computed_at", flat=True)
            .first()
        )
        return Recompute(stream.pk, queued=False, computed_at=run)
    return Recompute(stream.pk, queued=True, computed_at=None)


def reviewer_agreement(stream: Stream, thresholds: metrics.Thresholds) -> metrics.Figure:
    """``reviewer_agreement`` (stream): Krippendorff's alpha (nominal) of reviewers' accept/reject
    decisions over the judgements reviewed by at least two reviewers. Sample size = those
    judgements; ``details``: ``pairs_agreeing`` (share of reviewer pairs on the same judgement who
    decided alike) and ``pairable_values``. Never flagged: it describes the reviewers, not an
    annotator. One query."""
    rows = list(
        Review.objects.filter(judgement__stream=stream, judgement__is_current=True)
        .values("judgement_id")
        .annotate(
            accept=Count("id", filter=Q(decision=Review.Decision.ACCEPT)),
            reject=Count("id", filter=Q(decision=Review.Decision.REJECT)),
        )
        .values_list("accept", "reject")
    )
    counts = np.asarray([row for row in rows if row[0] + row[1] >= 2], dtype=np.int64).reshape(-1, 2)
    alpha, pairable = metrics.krippendorff_alpha(counts, level="nominal", value_domain=[0, 1])
    m = counts.sum(axis=1)
    pairs = (m * (m - 1) / 2).sum()
    agreeing = (counts * (counts - 1) / 2).sum()
    return metrics.Figure(
        "reviewer_agreement",
        None if alpha is None else round(alpha, 4),
        len(counts),
        False,
        {
            "pairs_agreeing": round(float(agreeing / pairs), 4) if pairs else None,
            "pairable_values": pairable,
            "min_sample": thresholds.min_sample,
        },
    )


def _store(stream: Stream, result: StreamMetrics, *, n_judgements: int) -> None:
    rows = [
        MetricSnapshot(
            stream=stream,
            annotator=None,
            metric=RUN_METRIC,
            window=MetricSnapshot.Window.ALL,
            value=round(result.seconds, 3),
            sample_size=n_judgements,
            details={
                "seconds": round(result.seconds, 3),
                "recent_days": metrics.RECENT_DAYS,
                **_flag_summary(result.windows[MetricSnapshot.Window.ALL.value]),
                # Items done / total for the project page, which reads this row instead of
                # aggregating every item of every stream per view.
                "progress": annotation_selectors.overview_progress([stream])[stream.pk].to_dict(),
                # The Quality page's labeling-time histogram, as of this run (a scan of the
                # stream's judgements the page would otherwise make on every view).
                "time_histogram": charts.labeling_time_counts(stream),
                # The golden page's "most disagreed" candidates, likewise.
                "disagreed": golden.disagreement_rows(stream=stream, limit=golden.DISAGREED_KEPT),
            },
            computed_at=result.computed_at,
        )
    ]
    for window, figures in result.windows.items():
        for figure in figures.stream.values():
            rows.append(_snapshot(stream.pk, None, window, figure, result.computed_at))
        for index, per_annotator in enumerate(figures.annotators):
            if not per_annotator["judgements"].sample_size and window != MetricSnapshot.Window.ALL:
                continue  # nobody needs a row of empty figures for an annotator idle this week
            kappa = per_annotator.get("cohen_kappa")
            if kappa is not None:  # partners by user id, not by the run's annotator index
                for pair in kappa.details.get("pairs", []):
                    pair["annotator"] = result.annotator_ids[pair["annotator"]]
            for figure in per_annotator.values():
                rows.append(_snapshot(stream.pk, result.annotator_ids[index], window, figure, result.computed_at))
    day_start = result.computed_at.replace(hour=0, minute=0, second=0, microsecond=0)
    with transaction.atomic():
        MetricSnapshot.objects.bulk_create(rows, batch_size=2000)
        # Thin the history: today's earlier runs (and incremental rows they cover) go; past days
        # keep their last run; nothing older than the retention period stays.
        MetricSnapshot.objects.filter(
            Q(computed_at__gte=day_start, computed_at__lt=result.computed_at)
            | Q(computed_at__lt=result.computed_at - timedelta(days=SNAPSHOT_RETENTION_DAYS)),
            stream=stream,
        ).delete()


def _flag_summary(figures: metrics.Figures) -> dict[str, Any]:
    """The run's evidence flags in brief, kept on its ``run`` row so the project page reads one row
    per stream: ``flagged_annotators`` (annotators with at least one flagged figure, window "all")
    and ``flagged_metrics`` (how many annotators each figure flags)."""
    by_metric: dict[str, int] = {}
    annotators = 0
    for per_annotator in figures.annotators:
        flagged = [metric for metric, figure in per_annotator.items() if figure.flagged]
        annotators += bool(flagged)
        for metric in flagged:
            by_metric[metric] = by_metric.get(metric, 0) + 1
    return {"flagged_annotators": annotators, "flagged_metrics": dict(sorted(by_metric.items()))}


def _snapshot(
    stream_id: int, annotator_id: int | None, window: str, figure: metrics.Figure, at: datetime
) -> MetricSnapshot:
    return MetricSnapshot(
        stream_id=stream_id,
        annotator_id=annotator_id,
        metric=figure.metric,
        window=window,
        value=figure.value,
        sample_size=figure.sample_size,
        details={**figure.details, "flagged": figure.flagged},
        computed_at=at,
    )


class _Epoch(Func):
    """POSIX seconds (float) of a datetime column, computed by the database. PostgreSQL:
    ``date_part`` gives the double at once (``EXTRACT`` computes a numeric first, several times
    slower over a million rows; the values are the same)."""

    output_field = FloatField()
    template = "date_part('epoch', %(expressions)s)"

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)")


def _as_int(condition: Q) -> Case:
    return Case(When(condition, then=Value(1)), default=Value(0), output_field=IntegerField())


# How ``_columns`` sends a column from PostgreSQL: the type it is cast to, the function that turns
# it into its binary form, and that form as a numpy dtype (big-endian).
_WIRE = {
    "int2": ("int2send", ">i2"),
    "int4": ("int4send", ">i4"),
    "int8": ("int8send", ">i8"),
    "float8": ("float8send", ">f8"),
}
_FETCH_ROWS = 50_000


def _columns(queryset: QuerySet[Any] | tuple[str, Sequence[Any]], types: Sequence[str]) -> list[np.ndarray[Any, Any]]:
    """The rows of a ``values_list`` queryset (or an SQL statement and its parameters) of numbers
    as one array per column, read without a Python object per value, and with each column's
    native dtype of ``types`` (``_WIRE``: int2, int4, int8, float8). NULL must not occur
    (COALESCE in the query).

    PostgreSQL packs each row into one ``bytea`` of the columns' binary forms (``int4send``...);
    they are joined ``_FETCH_ROWS`` rows at a time (the COPY protocol would cost a Python call per
    row) and numpy reads the bytes as a record array. Other databases (SQLite:
    the embedded demo) are read in chunks of tuples."""
    if isinstance(queryset, tuple):
        sql, params = queryset
    else:
        sql, params = queryset.query.sql_with_params()
    if connection.vendor != "postgresql":
        chunks = []
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(20_000):
                chunks.append(np.asarray(rows, dtype=np.float64).reshape(-1, len(types)))
        matrix = np.concatenate(chunks) if chunks else np.zeros((0, len(types)))
        return [matrix[:, index].astype(_WIRE[name][1][1:]) for index, name in enumerate(types)]
    names = [f"c{index}" for index in range(len(types))]
    record = " || ".join(f"{_WIRE[name][0]}({field}::{name})" for field, name in zip(names, types, strict=True))
    # Composed of the queryset's own SQL and fixed names; every value stays a parameter.
    statement = f"SELECT {record} FROM ({sql}) AS q({', '.join(names)})"  # noqa: S608
    dtype = np.dtype([(f"f{index}", _WIRE[name][1]) for index, name in enumerate(types)])
    parts: list[bytes] = []
    # A plain cursor, not a server-side one: PostgreSQL may then scan a big table with parallel
    # workers (a cursor never does); the records cost about 2 × their bytes while they arrive.
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        while rows := cursor.fetchmany(_FETCH_ROWS):
            parts.append(b"".join([row[0] for row in rows]))
    records = np.frombuffer(b"".join(parts), dtype=dtype)
    del parts
    return [records[f"f{index}"].astype(_WIRE[name][1][1:]) for index, name in enumerate(types)]


# A rubric rating counts when it is an integer 0–4 in the attribute's list: a JSON number whose
# text is 0..4 (a JSON 3.0, "3" or true is not a rating); an attribute whose value is not a list
# gives none (PostgreSQL reads `'3'::jsonb -> 0` as 3).
_RATING_SQL = """CASE (CASE WHEN jsonb_typeof("annotation_judgement"."rubric" -> %s) = 'array'
    THEN "annotation_judgement"."rubric" -> %s END -> {r})::text
    WHEN '0' THEN 0 WHEN '1' THEN 1 WHEN '2' THEN 2 WHEN '3' THEN 3 WHEN '4' THEN 4 ELSE -1 END"""
_RUBRIC_SQL_SQLITE = """
    SELECT j.id, r.key, e.key, e.value FROM annotation_judgement j, json_each(j.rubric) r, json_each(r.value) e
    WHERE j.stream_id = %s AND j.is_current AND r.type = 'array' AND e.type = 'integer' AND e.value BETWEEN 0 AND 4"""


def _rubric_slots(attributes: list[str], n_responses: int) -> tuple[list[str], metrics.IntArray, metrics.IntArray]:
    """The rubric's rating slots: the attribute names (one named twice counts at its first
    place), and per slot its attribute index in ``attributes`` and its response index. Slots run
    over the attributes in order, and for each over responses 0..``n_responses`` − 1."""
    first: dict[str, int] = {}
    for position, name in enumerate(attributes):
        first.setdefault(name, position)
    names = list(first)
    slot_attribute = np.repeat(np.asarray([first[name] for name in names], dtype=np.int64), max(n_responses, 0))
    slot_response = np.tile(np.arange(max(n_responses, 0), dtype=np.int64), len(names))
    return names, slot_attribute, slot_response


def _rating_columns(names: list[str], n_responses: int) -> list[RawSQL]:
    """PostgreSQL: one column per rubric slot (``_rubric_slots``) of the judgement query, the
    rating 0–4 or −1, taken from the JSON by the database."""
    return [
        # Fixed SQL and an integer index; the attribute name is a parameter.
        RawSQL(_RATING_SQL.format(r=int(response)), [name, name], output_field=IntegerField())  # noqa: S611
        for name in names
        for response in range(n_responses)
    ]


def _rubric_ratings_sqlite(stream: Stream, names: list[str], n_responses: int) -> tuple[metrics.IntArray, Any]:
    """SQLite: the judgement ids with a rubric rating, and per such judgement one rating or −1 per
    slot (``_rubric_slots``), from the JSON unnested by SQLite."""
    n_slots = len(names) * max(n_responses, 0)
    if not n_slots:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.int16)
    with connection.cursor() as cursor:
        cursor.execute(_RUBRIC_SQL_SQLITE, [stream.pk])
        rows = [
            (j, names.index(key) * n_responses + response, value)
            for j, key, response, value in cursor.fetchall()
            if key in names and response < n_responses
        ]
    found = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
    judgement_id, row = np.unique(found[:, 0], return_inverse=True)
    values = np.full((len(judgement_id), n_slots), -1, dtype=np.int16)
    values[row.reshape(-1), found[:, 1]] = found[:, 2]
    return judgement_id, values


def _has(*keys: str) -> Q:
    found = Q()
    for key in keys:
        found |= Q(signals__has_key=key)
    return found


def _seconds_signal(key: str) -> Coalesce:
    return Coalesce(Cast(KT(f"signals__{key}"), FloatField()), Value(0.0), output_field=FloatField())


# The integrity signals (``annotation.signals``) as ``metrics.StreamData`` codes, read by the
# database from ``Judgement.signals``: −1 where the page recorded nothing (``_nan_below_zero``).
_COPY_PROMPT = Q(signals__copy_prompt__gt=0)
_COPY_RESPONSE = Q(signals__copy_response__gt=0)
_SIGNAL_COLUMNS = (
    Case(
        When(_COPY_PROMPT & _COPY_RESPONSE, then=Value(metrics.COPIED_PROMPT | metrics.COPIED_RESPONSE)),
        When(_COPY_PROMPT, then=Value(metrics.COPIED_PROMPT)),
        When(_COPY_RESPONSE, then=Value(metrics.COPIED_RESPONSE)),
        When(_has("copy_prompt", "copy_response"), then=Value(0)),
        default=Value(_NO_ID),
        output_field=IntegerField(),
    ),
    Case(
        When(signals__paste_rationale__gt=0, then=Value(1)),
        When(_has("paste_rationale"), then=Value(0)),
        default=Value(_NO_ID),
        output_field=IntegerField(),
    ),
    Case(
        When(
            _has("hidden_seconds", "unfocused_seconds"),
            then=_seconds_signal("hidden_seconds") + _seconds_signal("unfocused_seconds"),
        ),
        default=Value(-1.0),
        output_field=FloatField(),
    ),
    # The page's own measure only (a heartbeat's mark is later and coarser): one definition.
    Case(
        When(
            _has("first_interaction_seconds") & Q(first_interaction_at__isnull=False),
            then=_Epoch("first_interaction_at") - _Epoch("served_at"),
        ),
        default=Value(-1.0),
        output_field=FloatField(),
    ),
)


def _nan_below_zero(values: np.ndarray[Any, Any]) -> metrics.FloatArray:
    out = values.astype(np.float64)
    out[out < 0] = np.nan
    return out


def _load(stream: Stream, since: datetime) -> tuple[metrics.StreamData, list[int], tuple[Any, Any, Any]]:
    """The stream as ``metrics.StreamData`` (window "all"), the annotators' user ids by index
    (ascending), and the recent window's per-annotator skip and review counts.

    Reads columns of numbers computed by the database (choice codes, the first display index,
    POSIX times, rubric ratings taken from the JSON by SQL) straight into arrays of compact
    types (``_columns``): no Python object per judgement, so a stream of a million judgements
    loads in a few seconds and about 200 MB."""
    # People's judgements only: a model judge's (source "model") are never in a human's figures.
    judged = Judgement.objects.filter(item=OuterRef("pk"), is_current=True).exclude(source=Judgement.Source.MODEL)
    item_ids, item_golden, item_harmful, len_a, len_b, num_responses = _columns(
        Item.objects.filter(stream=stream, pool=Item.Pool.WORK)
        .filter(Exists(judged))
        .values_list(
            "pk",
            _as_int(Q(is_golden=True)),
            _as_int(Q(is_golden=True, golden_harmful=True)),
            Coalesce(Length(KT("responses__0__text")), Value(0)),
            Coalesce(Length(KT("responses__1__text")), Value(0)),
            "num_responses",
        ),
        ["int8", "int2", "int2", "int4", "int4", "int2"],
    )
    by_pk = np.argsort(item_ids, kind="stable")  # searchsorted below needs them ascending
    item_ids, item_golden, item_harmful = item_ids[by_pk], item_golden[by_pk].astype(bool), item_harmful[by_pk]
    len_a, len_b = len_a[by_pk], len_b[by_pk]
    rubric_attributes = [str(name) for name in (stream.rubric or [])]
    n_responses = int(num_responses.max()) if len(num_responses) else 0
    names, slot_attribute, slot_response = _rubric_slots(rubric_attributes, n_responses)
    # PostgreSQL reads the rubric ratings with the judgements (one scan); SQLite unnests them apart.
    rating_columns = _rating_columns(names, n_responses) if connection.vendor == "postgresql" else []
    choice_code = Case(
        *(When(choice=name, then=Value(code)) for name, code in metrics.CHOICE_CODE.items()),
        default=Value(metrics.NO_CHOICE),
        output_field=IntegerField(),
    )
    (
        judgement_ids,
        judgement_item,
        judgement_annotator,
        choice,
        strength,
        first_shown,
        active_seconds,
        submitted_at,
        flag_harmful,
        gold_correct,
        copied,
        pasted,
        away_seconds,
        first_action_seconds,
        guideline_version,
        *slot_values,
    ) = _columns(
        Judgement.objects.filter(stream=stream, is_current=True)
        .exclude(source=Judgement.Source.MODEL)
        .values_list(
            "id",
            "item_id",
            "annotator_id",
            choice_code,
            Coalesce("strength", Value(0)),
            Coalesce(Cast(KT("display_order__0"), IntegerField()), Value(_NO_ID)),
            Coalesce("active_seconds", Value(-1.0), output_field=FloatField()),
            _Epoch("submitted_at"),
            _as_int(Q(flag_harmful=True)),
            Case(
                When(gold_correct=True, then=Value(1)),
                When(gold_correct=False, then=Value(0)),
                default=Value(_NO_ID),
                output_field=IntegerField(),
            ),
            *_SIGNAL_COLUMNS,
            Coalesce("guideline_version", Value(0)),
            *rating_columns,
        ),
        [
            "int8",
            "int8",
            "int8",
            "int2",
            "int2",
            "int4",
            "float8",
            "float8",
            "int2",
            "int2",
            "int2",
            "int2",
            "float8",
            "float8",
            "int4",
            *["int2"] * len(rating_columns),
        ],
    )
    # Judgements of qualification-pool items (not in item_ids) are not QC figures; the rest in
    # judgement id order, one order whatever the database sent.
    position = np.searchsorted(item_ids, judgement_item).clip(max=max(len(item_ids) - 1, 0))
    keep = (item_ids[position] == judgement_item) if len(item_ids) else np.zeros(len(judgement_item), dtype=bool)
    rows = np.flatnonzero(keep)
    rows = rows[np.argsort(judgement_ids[rows], kind="stable")]
    del keep, judgement_item
    judgement_ids, position = judgement_ids[rows], position[rows]
    annotator_ids_array, annotator = np.unique(judgement_annotator[rows], return_inverse=True)
    del judgement_annotator
    annotator_index = {int(user_id): index for index, user_id in enumerate(annotator_ids_array)}
    active_seconds = active_seconds[rows]
    active_seconds[active_seconds < 0] = np.nan
    # Not golden, or judged before the PM made the item golden (the submit stores gold_correct
    # only for items golden at the time): not scored against the answer.
    gold_correct = np.where(item_golden[position], gold_correct[rows], _NO_ID).astype(np.int64)

    if connection.vendor == "postgresql":  # one rating or −1 per slot, beside each judgement
        ratings = np.column_stack(slot_values)[rows] if slot_values else np.zeros((len(rows), 0), dtype=np.int16)
        rating_row = np.arange(len(rows))
    else:
        rated_ids, ratings = _rubric_ratings_sqlite(stream, names, n_responses)
        rating_row = np.searchsorted(judgement_ids, rated_ids).clip(max=max(len(judgement_ids) - 1, 0))
        rated = (judgement_ids[rating_row] == rated_ids) if len(judgement_ids) else np.zeros(len(rated_ids), bool)
        rating_row, ratings = rating_row[rated], ratings[rated]
        by_row = np.argsort(rating_row, kind="stable")
        rating_row, ratings = rating_row[by_row], ratings[by_row]
    del slot_values
    rated_row, slot = np.nonzero(ratings >= 0)  # by judgement, then slot: attribute, response

    skips = _skips(stream, since, annotator_index)
    reviews = _reviews(stream, since, annotator_index)
    annotator_ids = list(annotator_index)  # skips and reviews may have added annotators
    n_annotators = len(annotator_ids)
    skipped_all, skipped_recent, reviewed_all, rejected_all, reviewed_recent, rejected_recent = (
        _padded(column, n_annotators) for column in (*skips, *reviews)
    )
    data = metrics.StreamData(
        item=position.astype(np.int64),
        annotator=annotator.astype(np.int64).reshape(-1),
        choice=choice[rows].astype(np.int64),
        strength=strength[rows].astype(np.int64),
        first_shown=first_shown[rows].astype(np.int64),
        active_seconds=active_seconds,
        submitted_at=submitted_at[rows],
        flag_harmful=flag_harmful[rows].astype(bool),
        gold_correct=gold_correct,
        item_golden=item_golden,
        item_harmful=item_harmful.astype(bool),
        len_a=len_a.astype(np.int64),
        len_b=len_b.astype(np.int64),
        rubric_row=rating_row[rated_row].astype(np.int64),
        rubric_attribute=slot_attribute[slot],
        rubric_response=slot_response[slot],
        rubric_value=ratings[rated_row, slot].astype(np.int64),
        rubric_attributes=rubric_attributes,
        n_annotators=n_annotators,
        skipped=skipped_all,
        reviewed=reviewed_all,
        rejected=rejected_all,
        copied=copied[rows].astype(np.int64),
        pasted=pasted[rows].astype(np.int64),
        away_seconds=_nan_below_zero(away_seconds[rows]),
        first_action_seconds=_nan_below_zero(first_action_seconds[rows]),
        guideline_version=guideline_version[rows].astype(np.int64),
    )
    if stream.has_axes:
        data.axes, data.safety = _axes_columns(stream, judgement_ids)
    recent = (skipped_recent, reviewed_recent, rejected_recent)
    return data, annotator_ids, recent


def _axes_columns(stream: Stream, judgement_ids: np.ndarray[Any, Any]) -> tuple[dict[str, metrics.IntArray], Any]:
    """The answers of a multi-axis stream's judgements (``judgement_ids``, ascending) per axis as
    choice codes, and (helpful_safe) the safe flags per canonical response: 1 safe, 0 unsafe, −1
    none (``metrics.StreamData.axes`` / ``safety``). One read of the ``axes`` JSON: these streams
    are labelled by people at a few seconds an answer, so they stay far below the sizes the
    column reads above are built for."""
    names = stream.axis_names()
    n = len(judgement_ids)
    codes = {name: np.full(n, metrics.NO_CHOICE, dtype=np.int64) for name in names}
    safety = np.full((n, 2), -1, dtype=np.int64) if stream.task_kind == Stream.TaskKind.HELPFUL_SAFE else None
    answers = Judgement.objects.filter(stream=stream, is_current=True).exclude(axes={}).values_list("id", "axes")
    for pk, axes in answers.iterator(chunk_size=5000):
        row = int(np.searchsorted(judgement_ids, pk))
        if row >= n or judgement_ids[row] != pk or not isinstance(axes, dict):
            continue  # a qualification-pool item's judgement: not in the figures
        given = axes.get("attributes", axes) if stream.task_kind == Stream.TaskKind.ATTRIBUTE_PAIRWISE else axes
        for name in names:
            answer = given.get(name) if isinstance(given, dict) else None
            code = metrics.CHOICE_CODE.get(answer) if isinstance(answer, str) else None
            if code is not None and code <= metrics.TIE:
                codes[name][row] = code
        if safety is not None:
            for position, safe in enumerate((axes.get("safe") or [])[:2]):
                if isinstance(safe, bool):
                    safety[row, position] = int(safe)
    if safety is None:
        safety = np.zeros((0, 2), dtype=np.int64)
    return codes, safety


def _per_annotator(rows: Any, annotator_index: dict[int, int], fields: int) -> list[list[int]]:
    """Per-annotator count arrays from ``(annotator_id, count, ...)`` rows. An annotator who only
    skipped (no judgement) gets an index of their own."""
    out: list[list[int]] = [[] for _ in range(fields)]
    for annotator_id, *counts in rows:
        index = annotator_index.setdefault(annotator_id, len(annotator_index))
        for field_index, value in enumerate(counts):
            column = out[field_index]
            column.extend([0] * (index + 1 - len(column)))
            column[index] = value
    return out


def _skips(stream: Stream, since: datetime, annotator_index: dict[int, int]) -> list[list[int]]:
    rows = (
        Assignment.objects.filter(stream=stream, status=Assignment.Status.SKIPPED, item__pool=Item.Pool.WORK)
        .values("annotator_id")
        .annotate(all=Count("id"), recent=Count("id", filter=Q(finished_at__gte=since)))
        .values_list("annotator_id", "all", "recent")
    )
    return _per_annotator(list(rows), annotator_index, 2)


def _reviews(stream: Stream, since: datetime, annotator_index: dict[int, int]) -> list[list[int]]:
    """Per annotator: judgements reviewed, and rejected by at least one reviewer (all time, and
    among the judgements submitted in the recent window)."""
    recent = Q(judgement__submitted_at__gte=since)
    reject = Q(decision=Review.Decision.REJECT)
    rows = (
        Review.objects.filter(judgement__stream=stream, judgement__is_current=True)
        .values("judgement__annotator_id")
        .annotate(
            reviewed=Count("judgement", distinct=True),
            rejected=Count("judgement", distinct=True, filter=reject),
            reviewed_recent=Count("judgement", distinct=True, filter=recent),
            rejected_recent=Count("judgement", distinct=True, filter=recent & reject),
        )
        .values_list("judgement__annotator_id", "reviewed", "rejected", "reviewed_recent", "rejected_recent")
    )
    return _per_annotator(list(rows), annotator_index, 4)


def _padded(values: list[int], n: int) -> metrics.IntArray:
    return np.asarray(values + [0] * (n - len(values)), dtype=np.int64)


# --- Incremental: on each submit --------------------------------------------------------------
def record_judgement_metrics(judgement: Judgement, *, now: datetime | None = None) -> dict[str, metrics.Figure]:
    """The cheap per-submit update, for the submit service to call after storing ``judgement``.

    On a golden item it recomputes the annotator's ``gold_accuracy`` and ``gold_accuracy_rolling``
    (definitions in ``qc.metrics``; window "all", and "recent" over the last RECENT_DAYS days),
    stores them as snapshots (they supersede the last full run's until the next one) and returns
    them by metric name so QC rules (auto-pause) can act on them. On any other item it does
    nothing and returns {}.

    Queries: 0 for a judgement whose ``item`` is loaded and not golden (1 when it is not loaded);
    2 on a golden item (one read of the annotator's golden judgements with the stream's
    thresholds, one insert).
    """
    item = judgement.item if Judgement.item.is_cached(judgement) else None
    if item is not None:
        is_golden = item.is_golden
    else:
        is_golden = Item.objects.filter(pk=judgement.item_id, is_golden=True).exists()
    if not is_golden:
        return {}
    now = now or timezone.now()
    rows = list(
        Judgement.objects.filter(
            stream_id=judgement.stream_id,
            annotator_id=judgement.annotator_id,
            is_current=True,
            item__is_golden=True,
            item__pool=Item.Pool.WORK,
            gold_correct__isnull=False,  # served as golden (see _load); stored on submit
        )
        .order_by("submitted_at", "id")
        .values_list("submitted_at", "gold_correct", "stream__min_gold_count", "stream__min_gold_accuracy")
    )
    if not rows:
        return {}
    thresholds = metrics.Thresholds(min_gold_count=rows[0][2], min_gold_accuracy=rows[0][3])
    since = now - timedelta(days=metrics.RECENT_DAYS)
    outcomes: list[tuple[datetime, bool]] = [(submitted_at, bool(correct)) for submitted_at, correct, _n, _a in rows]
    figures: dict[str, metrics.Figure] = {}
    snapshots = []
    for window, chosen in (
        (MetricSnapshot.Window.ALL.value, [c for _at, c in outcomes]),
        (MetricSnapshot.Window.RECENT.value, [c for at, c in outcomes if at >= since]),
    ):
        last = chosen[-thresholds.gold_rolling :]
        for figure in (
            metrics.gold_figure("gold_accuracy", sum(chosen), len(chosen), thresholds),
            metrics.gold_figure("gold_accuracy_rolling", sum(last), len(last), thresholds),
        ):
            if window == MetricSnapshot.Window.ALL:
                figures[figure.metric] = figure
            snapshots.append(_snapshot(judgement.stream_id, judgement.annotator_id, window, figure, now))
    MetricSnapshot.objects.bulk_create(snapshots)
    return figures
