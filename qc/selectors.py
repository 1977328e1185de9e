"""Shared reads of QC figures: what pages, the API and ``qc_report`` show. They read snapshots
(written by ``qc.services``); nothing here recomputes a stream."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Max, QuerySet
from django.utils import timezone

from judging.models import Judge
from projects.models import Stream, StreamMembership
from qc import metrics
from qc.models import Alert, MetricSnapshot

RUN_METRIC = "run"  # the stream-level snapshot that marks a full run (qc.services writes it)


def active_stream_ids() -> list[int]:
    """Streams whose figures the periodic recompute refreshes: active ones."""
    return list(Stream.objects.filter(status=Stream.Status.ACTIVE).order_by("pk").values_list("pk", flat=True))


# A stream with nothing new is still recomputed this often: the "recent" window slides, and a pause,
# a skip or a golden answer edited leave no judgement behind to notice.
FULL_REFRESH_SECONDS = 3600


def streams_to_recompute(*, now: datetime | None = None) -> list[int]:
    """The active streams whose QC figures the periodic recompute (every minute) refreshes: those
    never computed, those with a judgement submitted or a review made since their last run, and
    those whose last run is older than ``FULL_REFRESH_SECONDS``. Streams with nothing new are
    skipped. Queries: 1 for the streams' last runs, then at most 2 indexed EXISTS per stream."""
    from annotation.models import Judgement
    from qc.models import Review

    now = now or timezone.now()
    stale_before = now - timedelta(seconds=FULL_REFRESH_SECONDS)
    ids = active_stream_ids()
    last_runs = dict(
        MetricSnapshot.objects.filter(stream_id__in=ids, metric=RUN_METRIC, annotator=None)
        .values("stream_id")
        .annotate(at=Max("computed_at"))
        .values_list("stream_id", "at")
    )
    due = []
    for stream_id in ids:
        at = last_runs.get(stream_id)
        if (
            at is None
            or at < stale_before
            or Judgement.objects.filter(stream_id=stream_id, submitted_at__gt=at).exists()
            or Review.objects.filter(judgement__stream_id=stream_id, created_at__gt=at).exists()
        ):
            due.append(stream_id)
    return due


def last_run(stream: Stream) -> tuple[datetime, dict[str, Any]] | None:
    """When the stream's figures were last fully recomputed, and what that run kept on its row
    (``qc.services._store``); None: never."""
    row = (
        MetricSnapshot.objects.filter(stream=stream, metric=RUN_METRIC, annotator=None)
        .order_by("-computed_at")
        .values_list("computed_at", "details")
        .first()
    )
    return (row[0], row[1] or {}) if row else None


def last_run_at(stream: Stream) -> datetime | None:
    """When the stream's figures were last fully recomputed (None: never)."""
    run = last_run(stream)
    return run[0] if run else None


def latest_metrics(stream: Stream, *, annotator_id: int | None = None) -> list[MetricSnapshot]:
    """The newest snapshot of each (metric, window, annotator) of ``stream``: the last full run's
    rows, overridden by any incremental row written since (gold accuracy on submit). Ordered
    stream figures first, then by annotator, metric, window. Two queries."""
    run_at = last_run_at(stream)
    # The annotator's id and username only: a stream of a few hundred annotators reads thousands of
    # rows here, and a whole user row each (password hash, dates) was a third of the Quality page.
    rows: QuerySet[MetricSnapshot] = MetricSnapshot.objects.filter(stream=stream)
    if annotator_id is not None:  # one annotator's figures only (their pages), not the stream's
        rows = rows.filter(annotator_id=annotator_id).select_related("annotator")
    if run_at is not None:
        rows = rows.filter(computed_at__gte=run_at)
    newest: dict[tuple[str, str, int | None], MetricSnapshot] = {}
    for row in rows.exclude(metric=RUN_METRIC).order_by("computed_at", "id"):
        newest[(row.metric, row.window, row.annotator_id)] = row
    if annotator_id is not None:
        return sorted(newest.values(), key=lambda r: (r.metric, r.window))
    # Each row's annotator (id and username) from one query, set as the relation's cached value: a
    # stream of a few hundred annotators reads thousands of rows here, and a joined user row each
    # (select_related) or Django's prefetch bookkeeping was a third of the Quality page's time.
    people = {
        user.pk: user
        for user in get_user_model()
        .objects.filter(pk__in={r.annotator_id for r in newest.values()})
        .only("id", "username")
    }
    cache = MetricSnapshot._meta.get_field("annotator")
    for row in newest.values():
        if row.annotator_id is not None:
            cache.set_cached_value(row, people.get(row.annotator_id))
    return sorted(
        newest.values(),
        key=lambda r: (r.annotator_id is not None, r.annotator.username if r.annotator else "", r.metric, r.window),
    )


def metrics_report(
    stream: Stream,
    *,
    metric: str | None = None,
    window: str | None = None,
    annotator_id: int | None = None,
) -> dict[str, Any]:
    """The machine-readable figures of ``stream`` (``GET /api/streams/<id>/metrics/`` and
    ``qc_report --json``; fields documented in docs/qc.md): the stream, its thresholds, when the
    figures were computed, the annotators flagged on anything, every annotator's standing in the
    stream, the open QC alerts, and ``results`` — one entry per
    figure: scope (stream or annotator), annotator (username) and annotator_id, metric, window,
    value, sample_size, flagged, details, computed_at. Optional filters narrow ``results``."""
    snapshots = latest_metrics(stream)
    run_at = last_run_at(stream)
    results = []
    flagged: dict[str, list[str]] = {}
    for row in snapshots:
        details = dict(row.details or {})
        is_flagged = bool(details.pop("flagged", False))
        username = row.annotator.get_username() if row.annotator else None
        if is_flagged and username is not None:
            flagged.setdefault(username, [])
            if row.metric not in flagged[username]:
                flagged[username].append(row.metric)
        if metric and row.metric != metric:
            continue
        if window and row.window != window:
            continue
        if annotator_id is not None and row.annotator_id != annotator_id:
            continue
        results.append(
            {
                "scope": "annotator" if row.annotator_id else "stream",
                "annotator": username,
                "annotator_id": row.annotator_id,
                "metric": row.metric,
                "window": row.window,
                "value": row.value,
                "sample_size": row.sample_size,
                "flagged": is_flagged,
                "details": details,
                "computed_at": row.computed_at.isoformat(),
            }
        )
    return {
        "stream": {
            "id": stream.pk,
            "project": stream.project.slug,
            "slug": stream.slug,
            "name": stream.name,
        },
        "computed_at": run_at.isoformat() if run_at else None,
        "recent_days": metrics.RECENT_DAYS,
        "thresholds": {
            "min_sample": stream.min_sample,
            "min_gold_count": stream.min_gold_count,
            "min_gold_accuracy": stream.min_gold_accuracy,
            "min_agreement": stream.min_agreement,
            "min_seconds": stream.min_seconds,
        },
        "flagged_annotators": [
            {"annotator": name, "metrics": sorted(names)} for name, names in sorted(flagged.items())
        ],
        "annotators": [
            {"annotator": sm.user.get_username(), "annotator_id": sm.user_id, "status": sm.status}
            for sm in StreamMembership.objects.filter(stream=stream).select_related("user").order_by("user__username")
        ],
        "open_alerts": [
            {
                "id": alert.pk,
                "kind": alert.kind,
                "severity": alert.severity,
                "annotator": alert.annotator.get_username() if alert.annotator else None,
                "message": alert.message,
                "action_taken": alert.action_taken,
                "details": alert.details,
                "created_at": alert.created_at.isoformat(),
            }
            for alert in Alert.objects.filter(stream=stream, acknowledged_at__isnull=True).select_related("annotator")
        ],
        "results": results,
    }


# --- What an annotator is told --------------------------------------------------------------------
def open_warning(*, stream: Stream, annotator: Any) -> str:
    """The QC warning the annotator should see while labeling (an open rushing warning of the last
    RECENT_DAYS days), in plain words; "" when there is none. One query."""
    since = timezone.now() - timedelta(days=metrics.RECENT_DAYS)
    alert = (
        Alert.objects.filter(
            stream=stream, annotator=annotator, kind="rushing", acknowledged_at__isnull=True, created_at__gte=since
        )
        .only("message")
        .first()
    )
    if alert is None:
        return ""
    return (
        "Quality check: you are labeling faster than the items can be read carefully "
        f"({alert.message}) Please take the time each item needs; if it goes on, your labeling will be paused."
    )


@dataclass(frozen=True)
class Pause:
    reason: str
    since: datetime | None


def pause_for(*, stream: Stream, annotator: Any) -> Pause:
    """Why and since when the annotator is paused in the stream (their membership's status reason)."""
    sm = StreamMembership.objects.filter(stream=stream, user=annotator).only("status_reason", "updated_at").first()
    if sm is None:
        return Pause("", None)
    return Pause(sm.status_reason, sm.updated_at)


# --- The QC page ------------------------------------------------------------------------------
# The annotator table's columns, grouped as the page shows them: (group, [(metric, heading, how to
# show the value, what the heading means)]). Headings are short so the table fits a 1366 px screen;
# the meaning is the heading's title and the legend under the table.
TABLE_GROUPS: list[tuple[str, list[tuple[str, str, str, str]]]] = [
    (
        "Accuracy",
        [
            ("gold_accuracy", "Gold", "pct", "Golden items answered right, all time"),
            ("gold_accuracy_rolling", "Gold, last 20", "pct", "Golden items answered right, last 20 answers"),
            ("agreement", "Agree", "pct", "Agreement with the other annotators' majority on the same items"),
            ("cohen_kappa", "Kappa", "num", "Cohen's kappa with the other annotators (pairs with 20+ shared items)"),
        ],
    ),
    (
        "Speed",
        [
            ("judgements", "Judged", "int", "Judgements submitted"),
            ("labeling_time", "Median", "sec", "Median active seconds per item"),
        ],
    ),
    (
        "Answers",
        [
            ("tie_rate", "Ties", "pct", "Share of answers that were a tie"),
            ("skip_rate", "Skips", "pct", "Share of items skipped"),
            ("rejection_rate", "Rejected", "pct", "Share of reviewed judgements a reviewer rejected"),
        ],
    ),
    (
        "Bias",
        [
            ("position_bias", "First", "pct", "Non-tie choices that picked the response shown first"),
            ("length_bias", "Longer", "pct", "Choices between clearly different lengths that picked the longer"),
            ("straightlining", "Same", "pct", "Share of the most frequent answer"),
        ],
    ),
    (
        "Harmful",
        [
            ("harmful_recall", "Recall", "pct", "Golden items marked harmful that the annotator flagged"),
            ("harmful_flag_rate", "Flags", "pct", "Share of other items the annotator flagged harmful"),
        ],
    ),
    (
        "Integrity",
        [
            ("copy_rate", "Copied", "pct", "Items on which the annotator copied prompt or response text"),
            ("paste_rate", "Pasted", "pct", "Items with a paste into the rationale"),
            ("away_seconds", "Away", "sec", "Mean seconds per item with the page hidden or unfocused"),
            ("first_interaction", "1st act", "sec", "Median seconds from serving the item to the first action on it"),
        ],
    ),
]
# The same columns, flat: (metric, heading, how to show the value), in the table's order.
TABLE_COLUMNS: list[tuple[str, str, str]] = [
    (metric, heading, kind) for _group, columns in TABLE_GROUPS for metric, heading, kind, _title in columns
]


@dataclass
class AnnotatorRow:
    annotator: Any
    status: str
    figures: dict[str, MetricSnapshot]
    flagged: list[str]
    open_alerts: int

    def value(self, metric: str) -> float | None:
        row = self.figures.get(metric)
        return row.value if row is not None else None


def qc_overview(
    stream: Stream, *, window: str = "all", snapshots: list[MetricSnapshot] | None = None
) -> tuple[dict[str, MetricSnapshot], list[AnnotatorRow]]:
    """The stream's figures by metric and one row per annotator (figures of ``window``), from
    the newest snapshots (``snapshots``: ``latest_metrics(stream)`` when the caller has read them
    already); annotators who are members without figures yet are listed too."""
    stream_figures: dict[str, MetricSnapshot] = {}
    per: dict[int, dict[str, MetricSnapshot]] = {}
    users: dict[int, Any] = {}
    for row in latest_metrics(stream) if snapshots is None else snapshots:
        if row.window != window:
            continue
        if row.annotator_id is None:
            stream_figures[row.metric] = row
        else:
            per.setdefault(row.annotator_id, {})[row.metric] = row
            users[row.annotator_id] = row.annotator
    memberships = StreamMembership.objects.filter(stream=stream).select_related("user")
    status = {}
    for sm in memberships:
        status[sm.user_id] = sm.status
        users.setdefault(sm.user_id, sm.user)
    alerts: dict[int, int] = {}
    for annotator_id in Alert.objects.filter(
        stream=stream, acknowledged_at__isnull=True, annotator__isnull=False
    ).values_list("annotator_id", flat=True):
        alerts[annotator_id] = alerts.get(annotator_id, 0) + 1
    rows = []
    for user_id, user in users.items():
        figures = per.get(user_id, {})
        rows.append(
            AnnotatorRow(
                annotator=user,
                status=status.get(user_id, ""),
                figures=figures,
                flagged=sorted(m for m, r in figures.items() if (r.details or {}).get("flagged")),
                open_alerts=alerts.get(user_id, 0),
            )
        )
    rows.sort(key=lambda r: r.annotator.get_username())
    return stream_figures, rows


# --- The model judge, apart from the people ----------------------------------------------------------
# Its figures in the annotator table's columns: (table column, judge figure).
JUDGE_COLUMNS = {
    "gold_accuracy": "judge_gold_accuracy",
    "agreement": "judge_agreement",
    "position_bias": "judge_position_bias",
    "length_bias": "judge_length_bias",
}


@dataclass
class JudgeOverview:
    """The stream's model judge on the Quality page: who it is, its uses, its figures by metric
    (``qc.judge_quality``; the newest run's) and the same figures as a row of the annotator
    table (``row``)."""

    name: str
    uses: list[str]
    figures: dict[str, MetricSnapshot]
    row: dict[str, MetricSnapshot]

    def figure(self, metric: str) -> MetricSnapshot | None:
        return self.figures.get(metric)


def judge_overview(stream: Stream, stream_figures: dict[str, MetricSnapshot]) -> JudgeOverview | None:
    """The stream's judge and its latest figures (from ``stream_figures``, the page's snapshots);
    None when the stream has no judge. One query."""
    judge = Judge.objects.filter(stream=stream).select_related("endpoint").first()
    if judge is None:
        return None
    figures = {m.removeprefix("judge_"): row for m, row in stream_figures.items() if m.startswith("judge_")}
    row = {column: stream_figures[metric] for column, metric in JUDGE_COLUMNS.items() if metric in stream_figures}
    agreement = stream_figures.get("judge_agreement")
    if agreement is not None:  # kappa with the people's majority, in the people's kappa column
        kappa = (agreement.details or {}).get("kappa")
        row["cohen_kappa"] = MetricSnapshot(metric="cohen_kappa", value=kappa, sample_size=agreement.sample_size)
    verdicts = stream_figures.get("judge_verdicts")
    if verdicts is not None:
        row["judgements"] = MetricSnapshot(
            metric="judgements",
            value=(verdicts.details or {}).get("consistent", 0),
            sample_size=verdicts.sample_size,
        )
    uses = [
        name
        for name, on in (("escalate", judge.use_escalate), ("vote", judge.use_vote), ("suggest", judge.use_suggest))
        if on
    ]
    return JudgeOverview(name=judge.endpoint.name, uses=uses, figures=figures, row=row)


def throughput(stream: Stream, *, now: datetime | None = None) -> dict[str, float | int]:
    """Judgements submitted in the last hour and the last 24 hours (per hour). One indexed query."""
    from django.db.models import Count, Q

    from annotation.models import Judgement

    now = now or timezone.now()
    people = Judgement.objects.filter(stream=stream).exclude(source=Judgement.Source.MODEL)
    row = people.filter(submitted_at__gte=now - timedelta(hours=24)).aggregate(
        day=Count("id"), hour=Count("id", filter=Q(submitted_at__gte=now - timedelta(hours=1)))
    )
    return {"last_hour": row["hour"], "last_24h": row["day"], "per_hour_24h": round(row["day"] / 24, 1)}


# --- The annotator's figures in plain words --------------------------------------------------------
@dataclass(frozen=True)
class PlainFigure:
    title: str
    text: str
    sample_size: int
    flagged: bool


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def plain_words(stream: Stream, figures: dict[tuple[str, str], MetricSnapshot]) -> list[PlainFigure]:
    """An annotator's own figures (window "all") as sentences, each with its sample size and
    whether it trips the stream's rule. Figures not computed yet are left out."""
    out: list[PlainFigure] = []

    def add(metric: str, title: str, text: Any) -> None:
        row = figures.get((metric, "all"))
        if row is None or row.sample_size == 0:
            return
        details = row.details or {}
        out.append(
            PlainFigure(title, text(row.value, details, row.sample_size), row.sample_size, bool(details.get("flagged")))
        )

    add(
        "gold_accuracy",
        "Golden items",
        lambda v, d, n: (
            f"You answered {d.get('correct', 0)} of {n} check items right ({_pct(v)}); "
            f"the stream asks for at least {_pct(stream.min_gold_accuracy)}."
        ),
    )
    add(
        "agreement",
        "Agreement",
        lambda v, d, n: (
            f"On {n} items judged by others too, you agreed with the others' majority {_pct(v)} of the time."
        ),
    )
    add(
        "labeling_time",
        "Time per item",
        lambda v, d, n: (
            f"You usually take {v:.0f} seconds an item (most between {d.get('p10') or 0:.0f} and "
            f"{d.get('p90') or 0:.0f} s)"
            + ("; that is faster than the responses can be read carefully." if d.get("rushing") else ".")
        ),
    )
    add(
        "position_bias",
        "Position",
        lambda v, d, n: (
            f"You picked the response shown first {_pct(v)} of the time (order is random, so about half is expected)."
        ),
    )
    add(
        "length_bias",
        "Length",
        lambda v, d, n: (
            f"When one response was clearly longer, you picked the longer one {_pct(v)} of the time "
            f"(the team's majority: {_pct(d.get('expected'))})."
        ),
    )
    add(
        "straightlining",
        "Same answer",
        lambda v, d, n: (
            f"Your most frequent answer ({str(d.get('answer', '')).replace('_', ' ')}) is {_pct(v)} of your answers."
        ),
    )
    add(
        "tie_rate",
        "Ties",
        lambda v, d, n: f"You chose a tie {_pct(v)} of the time (others: {_pct(d.get('expected'))}).",
    )
    add(
        "harmful_recall",
        "Harmful content",
        lambda v, d, n: f"On {n} check items with harmful content you flagged {_pct(v)} as harmful.",
    )
    add(
        "harmful_flag_rate",
        "Harmful flags",
        lambda v, d, n: f"You flag {_pct(v)} of items as harmful (others: {_pct(d.get('expected'))}).",
    )
    add(
        "rejection_rate",
        "Reviews",
        lambda v, d, n: f"Reviewers rejected {_pct(v)} of your {n} reviewed judgements.",
    )
    add(
        "copy_rate",
        "Copying",
        lambda v, d, n: (
            f"You copied text of the prompt or the responses on {_pct(v)} of {n} items "
            f"(others: {_pct(d.get('expected'))})."
        ),
    )
    add(
        "paste_rate",
        "Pasting",
        lambda v, d, n: f"You pasted into the rationale on {_pct(v)} of {n} items (others: {_pct(d.get('expected'))}).",
    )
    add(
        "away_seconds",
        "Time away",
        lambda v, d, n: (
            f"While an item was open, the page was in the background for {v:.0f} seconds on average "
            f"({d.get('left', 0)} of {n} items)."
        ),
    )
    return out


# What the labeling page records about how an item is worked on (annotation.signals), in the
# words the annotator's "My quality" page uses.
RECORDED = [
    "When you copy text of the prompt or of the responses: how many times, how many characters, and from which part.",
    "When you paste into the rationale box: how many times and how many characters.",
    "How long the page is hidden (another tab, a minimised window) or in the background (another "
    "window in front) while an item is open, and how many times that happens.",
    "How long after the item is shown you first act on it (a click, a key, typing), and how long it is shown.",
]
NOT_RECORDED = [
    "the text you copy or paste, or anything else you type apart from your answer and rationale;",
    "your keystrokes, mouse movements or screen;",
    "what you do in other tabs, windows or programs, or which ones they are.",
]


# --- The periodic jobs' heartbeat ------------------------------------------------------------------
@dataclass(frozen=True)
class JobHealth:
    """One periodic job (a ``CELERY_BEAT_SCHEDULE`` entry) as last seen running.

    ``last_run_at`` is when its last run started (by ``run_periodic`` or a Celery worker); it is
    *overdue* when it has never run or when no run started for more than twice its interval
    (``OVERDUE_FACTOR``): the scheduler (``run_periodic`` or celery beat) or the workers are down.
    ``failing``: its last run raised (``last_error``)."""

    name: str
    task: str
    interval_seconds: float
    last_run_at: datetime | None
    last_finished_at: datetime | None
    last_succeeded_at: datetime | None
    failing: bool
    last_error: str
    overdue: bool
    seconds_since_run: float | None


@dataclass(frozen=True)
class PeriodicHealth:
    jobs: list[JobHealth]
    checked_at: datetime

    @property
    def overdue(self) -> list[JobHealth]:
        return [job for job in self.jobs if job.overdue]

    @property
    def failing(self) -> list[JobHealth]:
        return [job for job in self.jobs if job.failing]

    @property
    def ok(self) -> bool:
        return not self.overdue and not self.failing

    @property
    def message(self) -> str:
        """The plain-words warning a page shows ("" when all is well)."""
        parts = []
        for job in self.overdue:
            if job.last_run_at is None:
                parts.append(f"{job.name} has never run (it should run every {_interval(job.interval_seconds)})")
            else:
                parts.append(
                    f"{job.name} last ran {_interval(job.seconds_since_run or 0)} ago "
                    f"(it should run every {_interval(job.interval_seconds)})"
                )
        for job in self.failing:
            if not job.overdue:
                parts.append(f"{job.name} failed on its last run")
        if not parts:
            return ""
        return (
            "Periodic jobs are not running: "
            + "; ".join(parts)
            + ". QC figures and rules, lease expiry and test time limits are stale until the scheduler runs "
            "(make run starts manage.py run_periodic; a deployment runs celery beat and a worker)."
        )


OVERDUE_FACTOR = 2


def _interval(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def periodic_health(*, now: datetime | None = None) -> PeriodicHealth:
    """Every periodic job of the schedule with its last run and whether it is overdue (see
    ``JobHealth``). The intervals are the schedule's (settings), the runs the ``PeriodicJob`` rows.
    One query."""
    from qc.models import PeriodicJob
    from qc.periodic import schedule_jobs

    now = now or timezone.now()
    rows = {row.name: row for row in PeriodicJob.objects.all()}
    jobs = []
    for job in schedule_jobs():
        row = rows.get(job.name)
        started = row.last_started_at if row else None
        since = (now - started).total_seconds() if started else None
        jobs.append(
            JobHealth(
                name=job.name,
                task=job.task,
                interval_seconds=job.interval,
                last_run_at=started,
                last_finished_at=row.last_finished_at if row else None,
                last_succeeded_at=row.last_succeeded_at if row else None,
                failing=bool(row and row.last_ok is False),
                last_error=row.last_error if row else "",
                overdue=since is None or since > OVERDUE_FACTOR * job.interval,
                seconds_since_run=since,
            )
        )
    return PeriodicHealth(jobs=jobs, checked_at=now)


# --- The program overview (project page) ------------------------------------------------------------
OVERVIEW_METRICS = ("alpha_nominal", "agreement", "gold_accuracy")


@dataclass(frozen=True)
class OverviewQuality:
    """A stream's quality on the project page, as its last full recompute stored it (window "all";
    nothing is recomputed here): the stream's figures in ``OVERVIEW_METRICS`` (each a snapshot with
    its value, sample size and, for α, the flag "below the stream's minimum agreement"), how many
    annotators the run flagged on any figure (each flag an evidence decision of ``qc.evidence``:
    a test at a stated α with its sample size), and the open QC alerts. ``computed_at`` None: the
    stream was never computed; ``flagged_annotators`` None: computed before the run kept the count
    (the next recompute fills it)."""

    computed_at: datetime | None
    figures: dict[str, MetricSnapshot]
    flagged_annotators: int | None
    flagged_metrics: dict[str, int]
    open_alerts: int

    def figure(self, metric: str) -> MetricSnapshot | None:
        return self.figures.get(metric)

    @property
    def alpha_flagged(self) -> bool:
        row = self.figures.get("alpha_nominal")
        return bool(row is not None and (row.details or {}).get("flagged"))


@dataclass(frozen=True)
class OverviewWeek:
    """The last ``days`` days of a stream as its last computation counted them (window "recent"):
    ``judgements`` (current judgements) and ``active`` (annotators with at least one)."""

    days: int
    judgements: int
    active: int

    @property
    def per_day(self) -> float:
        return self.judgements / self.days


def streams_overview(streams: list[Stream]) -> dict[int, dict[str, Any]]:
    """The program overview's stored figures for every stream of ``streams``: ``quality``,
    ``progress`` (items done / total, kept on the run row) and ``week`` (the recent window's
    judgements and active annotators). Three queries for all streams — the last run per stream
    (the ``snapshot_lookup`` index), that run's stream figures, the open alerts — and, only for
    streams never computed, the live item count (``annotation.selectors.overview_progress``)."""
    from django.db.models import Count, Q

    from annotation import selectors as annotation_selectors

    ids = [stream.pk for stream in streams]
    if not ids:
        return {}
    runs = dict(
        MetricSnapshot.objects.filter(stream_id__in=ids, metric=RUN_METRIC, annotator=None)
        .values("stream_id")
        .annotate(at=Max("computed_at"))
        .values_list("stream_id", "at")
        .order_by()
    )
    rows: dict[int, dict[tuple[str, str], MetricSnapshot]] = {}
    if runs:
        same_run = Q()
        for stream_id, at in runs.items():
            same_run |= Q(stream_id=stream_id, computed_at=at)
        for row in MetricSnapshot.objects.filter(
            same_run, annotator=None, metric__in=(RUN_METRIC, "judgements", *OVERVIEW_METRICS)
        ):
            rows.setdefault(row.stream_id, {})[(row.metric, row.window)] = row
    alerts = dict(
        Alert.objects.filter(stream_id__in=ids, acknowledged_at__isnull=True)
        .values("stream_id")
        .annotate(n=Count("id"))
        .values_list("stream_id", "n")
        .order_by()
    )
    all_time = MetricSnapshot.Window.ALL.value
    result: dict[int, dict[str, Any]] = {}
    for stream_id in ids:
        found = rows.get(stream_id, {})
        run = found.get((RUN_METRIC, all_time))
        details = run.details if run is not None else {}
        values: dict[str, Any] = {
            "quality": OverviewQuality(
                computed_at=runs.get(stream_id),
                figures={metric: row for (metric, window), row in found.items() if window == all_time},
                flagged_annotators=details.get("flagged_annotators"),
                flagged_metrics=details.get("flagged_metrics", {}),
                open_alerts=alerts.get(stream_id, 0),
            )
        }
        if isinstance(details.get("progress"), dict):
            values["progress"] = annotation_selectors.OverviewProgress(**details["progress"])
        recent = found.get(("judgements", MetricSnapshot.Window.RECENT.value))
        if run is not None:
            values["week"] = OverviewWeek(
                days=int(details.get("recent_days", metrics.RECENT_DAYS)),
                judgements=recent.sample_size if recent is not None else 0,
                active=int((recent.details or {}).get("annotators", 0)) if recent is not None else 0,
            )
        result[stream_id] = values
    missing = [stream for stream in streams if "progress" not in result[stream.pk]]
    for stream_id, progress in annotation_selectors.overview_progress(missing).items():
        result[stream_id]["progress"] = progress
    return result
