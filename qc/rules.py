"""Automatic QC actions: the stream's rules, the alerts they raise and the actions they take.

Every rule is a statistical decision of ``qc.evidence`` with a stated error rate; its alert
carries the test, the sample, the confidence reached and a sentence a PM can read
(``details["evidence"]``), e.g. "6 of 20 golden answers right (30%): accuracy below 70% with
99.9% confidence (SPRT, alpha 2%, n=20)". Definitions and error rates: docs/qc.md.

Rules (thresholds are the stream's QC settings; nothing fires on fewer than the minimum sample):

``gold_accuracy_low`` (on each golden submit)
    The golden answers since the annotator last started (joined, or was resumed by a PM), in
    order, through the sequential test ``evidence.gold_decision``: pause when the SPRT between
    the minimum + 0.1 and a bad accuracy crosses log(1/2%) *and* the accuracy is below
    ``min_gold_accuracy`` with ≥ 95% confidence, after at least ``min_gold_count`` answers. An
    annotator 0.1 above the minimum is ever paused with probability ≤ 2%, although the test
    looks after every answer. Action: **pause**; the work since the most likely start of the low
    accuracy (``evidence.drop_start``) leaves the count (reason ``qc_pause``) and goes to review.
``drift`` (after each full recompute)
    A change detector (``qc.drift``: CUSUMs on golden correctness, on agreement with the others
    and on labeling time, each ≤ 0.5% false alarms over 500 observations) alarms on the work
    since the annotator last started: **pause**; the work since the estimated change leaves the
    count (reason ``qc_drift``) and goes to review; earlier work stays.
``agreement_low`` (after each full recompute)
    The annotator's ``agreement`` figure is flagged (``evidence.agreement_decision``: agreement
    with the leave-one-out majority below the rate that kappa = ``min_agreement`` means, with
    ≤ 2% error for an annotator 0.1 above it): send their recent work to review.
``rushing`` then ``rushing_persisted`` (after each full recompute)
    ``labeling_time`` flagged in the recent window (most judgements too fast, one-sided exact
    binomial test at 5%): the first time, **warn** (the annotator sees it on their labeling and
    feedback pages); if after that warning the annotator's next ``min_sample`` or more judgements
    are still rushed by the same test, **pause** them; the work since the warning leaves the
    count (``qc_pause``) and goes to review.
``position_bias``, ``length_bias``, ``straightlining``, ``harmful_flag_rate``, ``harmful_recall``
    Flagged in the all-time window (two-sided exact tests, Bonferroni over the annotators
    tested, and a minimum effect): an alert for the PM, no automatic action.

``copy_rate``, ``paste_rate`` (integrity signals; after each full recompute)
    Copying item text / pasting into the rationale above the rest of the team's rate (Fisher's
    exact test, Bonferroni over the annotators tested, a minimum effect; ``qc.metrics._integrity``):
    a **warning** for the PM with the figures (share of items, mean time away, the team's rate,
    the evidence) and no action — a copy is weak evidence on its own.

Each firing is an ``Alert`` with the figures that triggered it (``details``) and the action taken.
A rule does not fire again while its alert is open; once a PM has closed it, only after
``min_sample`` more judgements (``min_gold_count`` for golden figures) than it fired on.
A reviewer who accepts a judgement that QC took out of the count puts it back
(``qc.review.submit_review``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.db.models import OuterRef, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import Length
from django.utils import timezone

from annotation import selectors as annotation_selectors
from annotation import services as annotation_services
from annotation.hooks import SubmitOutcome
from annotation.models import Assignment, Item, Judgement
from projects import services as project_services
from projects.models import Stream, StreamMembership, StreamMembershipEvent
from qc import drift, evidence, metrics, review
from qc import services as qc_services
from qc.models import Alert, ReviewTask

GOLD_RULE = "gold_accuracy_low"
AGREEMENT_RULE = "agreement_low"
RUSHING_RULE = "rushing"
RUSHING_PAUSE_RULE = "rushing_persisted"
DRIFT_RULE = "drift"
# Indicators that raise an alert for the PM and take no action by themselves.
WATCHED = ("position_bias", "length_bias", "straightlining", "harmful_flag_rate", "harmful_recall")
# Integrity (issue 14): copying item text, pasting into the rationale, above the team's rate. A copy
# alone is weak evidence (quoting a response, looking a fact up): a warning for the PM, never a
# pause, never work taken out of the count.
INTEGRITY = ("copy_rate", "paste_rate")
PAUSING_RULES = (GOLD_RULE, RUSHING_PAUSE_RULE, DRIFT_RULE)

RULE_LABELS = {
    GOLD_RULE: "Gold accuracy below the stream's minimum",
    AGREEMENT_RULE: "Agreement with the other annotators below the stream's minimum",
    RUSHING_RULE: "Labeling faster than the items can be read",
    RUSHING_PAUSE_RULE: "Still rushing after a warning",
    DRIFT_RULE: "Work got worse after qualifying (drift)",
    "position_bias": "Picks one position (first or second) more than chance",
    "length_bias": "Picks the longer (or shorter) response more than the team does",
    "straightlining": "Gives the same answer more than 90% of the time",
    "harmful_flag_rate": "Flags harmful content far more or less often than the team",
    "harmful_recall": "Misses harmful content on golden items marked harmful",
    "copy_rate": "Copies item text more often than the others",
    "paste_rate": "Pastes into the rationale more often than the others",
}


# --- On submit ----------------------------------------------------------------------------------
def after_golden_submit(*, judgement: Judgement, stream: Stream, now: datetime | None = None) -> SubmitOutcome:
    """QC after a new judgement on a golden item (``judgement.item`` loaded): the gold figures
    (``qc.services.record_judgement_metrics``), the gold rule, and in training mode the item's
    explanation when the answer was wrong."""
    item: Item = judgement.item
    now = now or timezone.now()
    qc_services.record_judgement_metrics(judgement, now=now)
    alert = check_gold_rule(stream=stream, annotator_id=judgement.annotator_id, now=now)
    explanation = ""
    if stream.show_golden_explanation and judgement.gold_correct is False:
        explanation = item.golden_explanation or "That answer did not match the expected one."
    return SubmitOutcome(paused=bool(alert and alert.details.get("paused")), explanation=explanation)


def check_gold_rule(*, stream: Stream, annotator_id: int, now: datetime | None = None) -> Alert | None:
    """The gold rule for one annotator (``evidence.gold_decision`` on the golden answers since
    they last started, in order): pauses them, takes the work since the most likely start of the
    low accuracy out of the count and raises the alert when the evidence says their accuracy is
    below the stream's minimum. Returns the alert, or None when the rule does not fire."""
    now = now or timezone.now()
    sm = _membership_with_start(stream, annotator_id)
    if sm is None or sm.status == StreamMembership.Status.PAUSED:
        return None
    thresholds = qc_services.thresholds_for(stream)
    rows = Judgement.objects.filter(
        stream=stream,
        annotator_id=annotator_id,
        is_current=True,
        item__is_golden=True,
        item__pool=Item.Pool.WORK,
        gold_correct__isnull=False,  # served as golden
    )
    resumed_at = getattr(sm, "resumed_at", None)
    if resumed_at is not None:
        rows = rows.filter(submitted_at__gt=resumed_at)
    # gold_correct is stored on submit for every answer given while the item was golden.
    answers = list(rows.order_by("submitted_at", "id").values_list("gold_correct", "submitted_at"))
    outcomes = [bool(right) for right, _at in answers]
    decision = evidence.gold_decision(
        outcomes, thresholds.min_gold_accuracy, min_count=max(thresholds.min_gold_count, 1)
    )
    if not decision.pause:
        return None
    # The work since the most likely start of the low accuracy is suspect: everything after the
    # last golden answer of the good stretch before it.
    p_good, p_bad = drift.gold_rates(thresholds.min_gold_accuracy)
    start = evidence.drop_start(outcomes, p_good, p_bad)
    since = answers[start - 1][1] + timedelta(microseconds=1) if 0 < start <= len(answers) else resumed_at
    figure = metrics.Figure(
        "gold_accuracy_since_start",
        None if decision.estimate is None else round(decision.estimate, 4),
        decision.n,
        True,
        {
            "correct": decision.k,
            "threshold": thresholds.min_gold_accuracy,
            "min_count": thresholds.min_gold_count,
            "evidence": decision.to_dict(),
            "suspect_since": since.isoformat() if since else None,
        },
    )
    return fire(
        stream=stream,
        annotator_id=annotator_id,
        kind=GOLD_RULE,
        figure=figure,
        window="since the last resume" if resumed_at else "since joining the stream",
        pause=True,
        exclude_reason=Judgement.ExcludedReason.QC_PAUSE,
        review_since=since,
        now=now,
        message=decision.message + ".",
    )


def _membership_with_start(stream: Stream, annotator_id: int) -> StreamMembership | None:
    """The annotator's membership with ``resumed_at``: when a PM last resumed them (None if never)."""
    resumed = StreamMembershipEvent.objects.filter(
        stream_membership=OuterRef("pk"),
        from_status=StreamMembership.Status.PAUSED,
        to_status=StreamMembership.Status.QUALIFIED,
    ).order_by("-created_at")
    return (
        StreamMembership.objects.filter(stream=stream, user_id=annotator_id)
        .annotate(resumed_at=Subquery(resumed.values("created_at")[:1]))
        .first()
    )


# --- After a full recompute ---------------------------------------------------------------------
def apply_rules(*, stream: Stream, result: qc_services.StreamMetrics, now: datetime | None = None) -> list[Alert]:
    """Runs the recompute-time rules over a full run's figures. Returns the alerts raised."""
    now = now or timezone.now()
    last = _last_alerts(stream)
    standing = dict(StreamMembership.objects.filter(stream=stream).values_list("user_id", "status"))
    raised: list[Alert] = []
    for window_name in ("all", "recent"):
        figures = result.windows.get(window_name)
        if figures is None:
            continue
        for index, per_annotator in enumerate(figures.annotators):
            annotator_id = result.annotator_ids[index]
            if standing.get(annotator_id) in (StreamMembership.Status.REMOVED, None):
                continue
            for kind, metric in _rules_for(window_name):
                if kind == RUSHING_RULE and standing.get(annotator_id) == StreamMembership.Status.PAUSED:
                    continue  # warn-then-pause is moot while paused; the other alerts still inform the PM
                figure = per_annotator.get(metric)
                if figure is None or not figure.flagged:
                    continue
                if kind == RUSHING_RULE:
                    alert = _rushing(stream, annotator_id, figure, window_name, last, now)
                elif _may_fire(last.get((kind, annotator_id)), figure, stream):
                    alert = _act(stream, annotator_id, kind, figure, window_name, now)
                else:
                    continue
                if alert is not None:
                    raised.append(alert)
                    last[(alert.kind, annotator_id)] = alert
                    if alert.details.get("paused"):
                        standing[annotator_id] = StreamMembership.Status.PAUSED
    raised += _drift(stream=stream, result=result, standing=standing, now=now)
    return raised


def _drift(
    *, stream: Stream, result: qc_services.StreamMetrics, standing: dict[int, str], now: datetime
) -> list[Alert]:
    """The drift rule (``qc.drift``) over the recompute's arrays, for the annotators who may work
    (not paused, removed or failed), each on their work since they last started."""
    if result.data is None or not result.annotator_ids:
        return []
    working = (StreamMembership.Status.QUALIFIED, StreamMembership.Status.INVITED)
    indices = [i for i, user_id in enumerate(result.annotator_ids) if standing.get(user_id) in working]
    if not indices:
        return []
    resumed = dict(
        StreamMembershipEvent.objects.filter(
            stream_membership__stream=stream,
            stream_membership__user_id__in=[result.annotator_ids[i] for i in indices],
            from_status=StreamMembership.Status.PAUSED,
            to_status=StreamMembership.Status.QUALIFIED,
        )
        .order_by("created_at")
        .values_list("stream_membership__user_id", "created_at")
    )
    position = {user_id: i for i, user_id in enumerate(result.annotator_ids)}
    starts = {position[user_id]: at.timestamp() for user_id, at in resumed.items()}
    raised = []
    for finding in drift.detect(
        result.data, min_gold_accuracy=stream.min_gold_accuracy, starts=starts, annotators=indices
    ):
        annotator_id = result.annotator_ids[finding.annotator_index]
        figure = metrics.Figure(
            f"drift_{finding.detector}",
            None,
            finding.result.n,
            True,
            {
                "detector": finding.detector,
                "change_at": finding.change_at.isoformat(),
                "alarm_at": finding.alarm_at.isoformat(),
                "judgements_since": finding.judgements_since,
                "evidence": finding.result.to_dict(),
            },
        )
        raised.append(
            fire(
                stream=stream,
                annotator_id=annotator_id,
                kind=DRIFT_RULE,
                figure=figure,
                window="since the last resume" if finding.annotator_index in starts else "since joining the stream",
                pause=True,
                exclude_reason=Judgement.ExcludedReason.QC_DRIFT,
                review_since=finding.change_at,
                now=now,
                message=finding.message + ".",
            )
        )
    return raised


def _rules_for(window: str) -> list[tuple[str, str]]:
    if window == "all":
        return [(AGREEMENT_RULE, "agreement"), *((name, name) for name in (*WATCHED, *INTEGRITY))]
    return [(RUSHING_RULE, "labeling_time")]


def _may_fire(previous: Alert | None, figure: metrics.Figure, stream: Stream) -> bool:
    if previous is None:
        return True
    if previous.acknowledged_at is None:
        return False
    step = stream.min_gold_count if figure.metric.startswith("gold") else stream.min_sample
    return figure.sample_size >= int(previous.details.get("sample_size", 0)) + max(step, 1)


def _act(stream: Stream, annotator_id: int, kind: str, figure: metrics.Figure, window: str, now: datetime) -> Alert:
    sentence = (figure.details.get("evidence") or {}).get("message")
    if kind == AGREEMENT_RULE:
        kappa = figure.details.get("kappa")
        return fire(
            stream=stream,
            annotator_id=annotator_id,
            kind=kind,
            figure=figure,
            window=window,
            review_since=now - timedelta(days=metrics.RECENT_DAYS),
            now=now,
            message=(
                f"{sentence}; chance-corrected (kappa) {kappa if kappa is None else round(kappa, 2)}, "
                f"minimum {stream.min_agreement}."
            ),
        )
    if kind in INTEGRITY:
        return fire(
            stream=stream,
            annotator_id=annotator_id,
            kind=kind,
            figure=figure,
            window=window,
            severity=Alert.Severity.WARNING,
            now=now,
            message=integrity_message(kind, figure),
        )
    if not sentence:
        sentence = f"{RULE_LABELS.get(kind, kind)}: {_pct(figure.value)} on {figure.sample_size} judgements" + (
            f" (the stream: {_pct(figure.details.get('expected'))})" if figure.details.get("expected") else ""
        )
    return fire(
        stream=stream,
        annotator_id=annotator_id,
        kind=kind,
        figure=figure,
        window=window,
        severity=Alert.Severity.INFO,
        now=now,
        message=sentence + ".",
    )


def _rushing(
    stream: Stream,
    annotator_id: int,
    figure: metrics.Figure,
    window: str,
    last: dict[tuple[str, int], Alert],
    now: datetime,
) -> Alert | None:
    """Warn, then pause: the first time (or the first time after a PM resumed a rushing pause) a
    warning; after a warning, a pause when the work since then is still rushed."""
    warning = last.get((RUSHING_RULE, annotator_id))
    paused = last.get((RUSHING_PAUSE_RULE, annotator_id))
    resumed_since = paused is not None and warning is not None and paused.created_at >= warning.created_at
    if warning is None or (resumed_since and paused is not None and paused.acknowledged_at is not None):
        return fire(
            stream=stream,
            annotator_id=annotator_id,
            kind=RUSHING_RULE,
            figure=figure,
            window=window,
            severity=Alert.Severity.WARNING,
            warn=True,
            now=now,
            message=_rushing_message(figure, stream),
        )
    if resumed_since:
        return None  # paused for it and not resumed yet
    return _rushing_after_warning(stream, annotator_id, warning, now)


def _rushing_after_warning(stream: Stream, annotator_id: int, warning: Alert, now: datetime) -> Alert | None:
    """Pauses an annotator who was warned for rushing when the judgements submitted since the
    warning (at least ``min_sample`` timed ones) are still rushed; otherwise nothing."""
    timed = list(
        Judgement.objects.filter(
            stream=stream,
            annotator_id=annotator_id,
            is_current=True,
            submitted_at__gt=warning.created_at,
            active_seconds__isnull=False,
            item__pool=Item.Pool.WORK,
        ).values_list("active_seconds", "item_id")
    )
    lengths = dict(
        Item.objects.filter(pk__in={item_id for _s, item_id in timed})
        .annotate(chars=Length(KT("responses__0__text")) + Length(KT("responses__1__text")))
        .values_list("pk", "chars")
    )
    rows = [(seconds, lengths.get(item_id)) for seconds, item_id in timed]
    if len(rows) < max(stream.min_sample, 1):
        return None
    seconds = np.asarray([r[0] for r in rows], dtype=np.float64)
    floor = metrics.reading_seconds([r[1] or 0 for r in rows])
    median = float(np.median(seconds))
    ratios = seconds[floor > 0] / floor[floor > 0]
    ratio = float(np.median(ratios)) if len(ratios) else None
    too_fast = (seconds < stream.min_seconds) | ((floor > 0) & (seconds < floor))
    decision = evidence.rate_above_decision(
        int(too_fast.sum()),
        len(rows),
        0.5,
        subject=f"{int(too_fast.sum())} of {len(rows)} judgements since the warning faster than "
        f"{stream.min_seconds:g} s or the time it takes to read both responses",
        empty="No timed judgements since the warning.",
        min_count=max(stream.min_sample, 1),
    )
    if not decision.pause:
        return None
    reasons = []
    if median < stream.min_seconds:
        reasons.append("below_min_seconds")
    if ratio is not None and ratio < 1.0:
        reasons.append("below_reading_time")
    figure = metrics.Figure(
        "labeling_time",
        round(median, 2),
        len(rows),
        True,
        {
            "reading_ratio_median": None if ratio is None else round(ratio, 3),
            "rushing": reasons or ["mostly_too_fast"],
            "min_seconds": stream.min_seconds,
            "since_warning": warning.created_at.isoformat(),
            "evidence": decision.to_dict(),
        },
    )
    return fire(
        stream=stream,
        annotator_id=annotator_id,
        kind=RUSHING_PAUSE_RULE,
        figure=figure,
        window="since the warning",
        pause=True,
        exclude_reason=Judgement.ExcludedReason.QC_PAUSE,
        review_since=warning.created_at,
        now=now,
        message=f"Still rushing after the warning of {warning.created_at:%Y-%m-%d %H:%M}: "
        + _rushing_message(figure, stream),
    )


def _rushing_message(figure: metrics.Figure, stream: Stream) -> str:
    reasons = figure.details.get("rushing") or []
    parts = [f"median {figure.value} s on {figure.sample_size} judgements"]
    if "below_min_seconds" in reasons:
        parts.append(f"below the stream's minimum of {stream.min_seconds:g} s")
    if "below_reading_time" in reasons:
        parts.append("faster than the responses can be read")
    sentence = (figure.details.get("evidence") or {}).get("message")
    return "; ".join(parts) + (f". {sentence}." if sentence else ".")


def _pct(value: Any) -> str:
    return "—" if value is None else f"{float(value):.0%}"


def integrity_message(kind: str, figure: metrics.Figure) -> str:
    """The integrity alert's sentence: what the annotator did, how long they were away on average,
    the team's rate and the evidence, e.g. "Copied item text on 40% of items (12 of 30: responses on
    12, the prompt on 0) and left the page for 25 s on average; …"."""
    details = figure.details
    n, k = figure.sample_size, details.get("count", 0)
    if kind == "copy_rate":
        did = (
            f"Copied item text on {_pct(figure.value)} of items ({k} of {n}: the responses on "
            f"{details.get('response', 0)}, the prompt on {details.get('prompt', 0)})"
        )
    else:
        did = f"Pasted into the rationale on {_pct(figure.value)} of items ({k} of {n})"
    away = details.get("away_seconds_mean")
    left = f" and left the page for {away:.0f} s on average" if away is not None else ""
    both = f", {details['copied_and_left']} of them followed by time away" if details.get("copied_and_left") else ""
    sentence = (details.get("evidence") or {}).get("message", "")
    return (
        f"{did}{left}{both}; the others: {_pct(details.get('expected'))}. {sentence}. "
        "A copy or a paste alone is weak evidence (quoting, looking a fact up): look at the work before acting."
    )


def _last_alerts(stream: Stream) -> dict[tuple[str, int], Alert]:
    last: dict[tuple[str, int], Alert] = {}
    for alert in Alert.objects.filter(stream=stream, annotator__isnull=False).order_by("created_at", "id"):
        assert alert.annotator_id is not None
        last[(alert.kind, alert.annotator_id)] = alert
    return last


# --- Actions --------------------------------------------------------------------------------------
def fire(
    *,
    stream: Stream,
    annotator_id: int,
    kind: str,
    figure: metrics.Figure,
    window: str,
    message: str,
    pause: bool = False,
    warn: bool = False,
    review_since: datetime | None = None,
    exclude_reason: str | None = None,
    severity: str | None = None,
    now: datetime | None = None,
) -> Alert:
    """Takes a rule's action and stores the ``Alert``: the figure that triggered it (value, sample
    size, window, threshold details, the evidence) and what was done. ``pause`` pauses the
    annotator (through the membership state machine) and sends their recent work to review;
    ``review_since`` sends their work since then to review without pausing; ``exclude_reason``
    also takes that work (all of it without ``review_since``) out of the count
    (``annotation.services.exclude_annotator_work``): the items reopen their slots and the
    default export leaves it out, while earlier work stays. ``warn`` only tells the annotator."""
    now = now or timezone.now()
    actions = []
    paused = False
    excluded = 0
    if pause:
        paused = pause_annotator(
            stream=stream, annotator_id=annotator_id, reason=f"Paused by QC: {message}", actor=None, now=now
        )
        actions.append("paused the annotator" if paused else "could not pause (not in a pausable state)")
    if exclude_reason is not None:
        excluded = annotation_services.exclude_annotator_work(
            stream=stream, annotator=annotator_id, reason=exclude_reason, since=review_since, now=now
        )
        when = f" since {review_since:%Y-%m-%d %H:%M} UTC" if review_since else ""
        actions.append(f"{excluded} judgement{'s' if excluded != 1 else ''}{when} taken out of the count")
    if pause or review_since is not None:
        sent = review.send_recent_work(
            stream=stream,
            annotator=annotator_id,
            reason=ReviewTask.Reason.QC,
            note=RULE_LABELS.get(kind, kind),
            since=review_since,
        )
        if sent:
            actions.append(f"{sent} judgement{'s' if sent != 1 else ''} sent to review")
        else:
            actions.append("no new judgements to send to review (already queued, or none recent)")
    if warn:
        actions.append("warned the annotator")
    if not actions:
        actions.append("none: shown to the PM")
    return Alert.objects.create(
        stream=stream,
        annotator_id=annotator_id,
        kind=kind,
        severity=severity or (Alert.Severity.CRITICAL if pause else Alert.Severity.WARNING),
        message=message,
        details={
            "metric": figure.metric,
            "window": window,
            "value": figure.value,
            "sample_size": figure.sample_size,
            "flagged": figure.flagged,
            "figure": figure.details,
            "paused": paused,
            "warned": warn,
            "excluded": excluded,
            "excluded_since": review_since.isoformat() if exclude_reason and review_since else None,
        },
        action_taken="; ".join(actions),
        created_at=now,
    )


def pause_annotator(*, stream: Stream, annotator_id: int, reason: str, actor: Any, now: datetime | None = None) -> bool:
    """Pauses the annotator in the stream (``projects.services.transition_stream_membership``) and
    ends their live lease, so the item goes back to others at the next sweep. False when the
    membership cannot move to paused (not qualified, already paused, removed)."""
    sm = StreamMembership.objects.filter(stream=stream, user_id=annotator_id).first()
    if sm is None:
        return False
    try:
        if sm.status == StreamMembership.Status.INVITED and sm.can_move_to(StreamMembership.Status.QUALIFIED):
            # An invited member labels when the stream has no qualification test: they were working
            # as qualified, and only a qualified member can be paused (the state machine's path).
            if (
                Stream.objects.filter(pk=stream.pk)
                .filter(annotation_selectors.has_active_test(OuterRef("pk")))
                .exists()
            ):
                return False  # an invited member of a stream with a test gets no items: nothing to pause
            project_services.transition_stream_membership(
                stream_membership=sm,
                to_status=StreamMembership.Status.QUALIFIED,
                actor=actor,
                reason="was labeling without a qualification test",
            )
        if not sm.can_move_to(StreamMembership.Status.PAUSED):
            return False
        project_services.transition_stream_membership(
            stream_membership=sm, to_status=StreamMembership.Status.PAUSED, actor=actor, reason=reason[:500]
        )
    except project_services.TransitionError:
        return False
    Assignment.objects.filter(stream=stream, annotator_id=annotator_id, status=Assignment.Status.ACTIVE).update(
        lease_expires_at=now or timezone.now()
    )
    return True


def resume_annotator(*, stream: Stream, annotator_id: int, reason: str, actor: Any) -> bool:
    """A PM resumes a paused annotator with a reason; the open alerts that paused them are closed
    with that reason. The gold rule then counts only golden answers given after the resume."""
    sm = StreamMembership.objects.filter(stream=stream, user_id=annotator_id).first()
    if sm is None or sm.status != StreamMembership.Status.PAUSED:
        return False
    project_services.transition_stream_membership(
        stream_membership=sm, to_status=StreamMembership.Status.QUALIFIED, actor=actor, reason=reason[:500]
    )
    now = timezone.now()
    for alert in Alert.objects.filter(
        stream=stream, annotator_id=annotator_id, kind__in=PAUSING_RULES, acknowledged_at__isnull=True
    ):
        close_alert(alert=alert, actor=actor, note=f"Resumed: {reason}", now=now)
    return True


def close_alert(*, alert: Alert, actor: Any, note: str = "", now: datetime | None = None) -> Alert:
    """A PM closes (acknowledges) an alert, with an optional note kept in its details."""
    alert.acknowledged_at = now or timezone.now()
    alert.acknowledged_by = actor
    alert.details = {**alert.details, "resolution": note[:500]}
    alert.save(update_fields=["acknowledged_at", "acknowledged_by", "details"])
    return alert


def open_alerts(stream: Stream) -> Any:
    return Alert.objects.filter(stream=stream, acknowledged_at__isnull=True).select_related("annotator")


def recompute_and_act(*, stream: Stream, now: datetime | None = None) -> tuple[qc_services.StreamMetrics, list[Alert]]:
    """A full recompute of the stream's figures, then the recompute-time rules on them."""
    result = qc_services.compute_stream_metrics(stream=stream, now=now)
    return result, apply_rules(stream=stream, result=result, now=now)
