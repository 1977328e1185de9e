"""Reviews, QC figures and alerts, exports."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class ReviewTask(models.Model):
    """A judgement waiting for review: sampled at the stream's review rate, flagged by the
    annotator (harmful/PII), or sent by a QC rule or a PM."""

    class Reason(models.TextChoices):
        SAMPLE = "sample", "Random sample"
        FLAG = "flag", "Flagged by the annotator"
        QC = "qc", "Sent by a QC rule"
        PM = "pm", "Sent by a project manager"

    judgement = models.ForeignKey("annotation.Judgement", on_delete=models.CASCADE, related_name="review_tasks")
    stream = models.ForeignKey("projects.Stream", on_delete=models.CASCADE, related_name="review_tasks")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # How many distinct reviewers should see it (2 = double review, for reviewer agreement).
    reviews_wanted = models.PositiveSmallIntegerField(default=1)
    done = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["judgement", "reason"], name="review_task_once_per_reason"),
            models.CheckConstraint(
                condition=Q(reason__in=["sample", "flag", "qc", "pm"]), name="review_task_reason_valid"
            ),
            models.CheckConstraint(condition=Q(reviews_wanted__gte=1), name="review_task_reviews_wanted_positive"),
        ]
        indexes = [models.Index(fields=["stream", "created_at"], condition=Q(done=False), name="review_task_open")]


class Review(models.Model):
    class Decision(models.TextChoices):
        ACCEPT = "accept", "Accept"
        REJECT = "reject", "Reject"

    judgement = models.ForeignKey("annotation.Judgement", on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviews")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["judgement", "reviewer"], name="review_once_per_reviewer"),
            models.CheckConstraint(condition=Q(decision__in=["accept", "reject"]), name="review_decision_valid"),
            # A rejection must say why: the annotator and the PM both read it.
            models.CheckConstraint(condition=Q(decision="accept") | ~Q(reason=""), name="review_reject_has_reason"),
        ]


class MetricSnapshot(models.Model):
    """One computed QC figure for a stream (``annotator`` null) or one annotator in it, over a
    window. Pages read the newest snapshot; they never recompute a stream per request."""

    class Window(models.TextChoices):
        ALL = "all", "All time"
        RECENT = "recent", "Recent"

    stream = models.ForeignKey("projects.Stream", on_delete=models.CASCADE, related_name="metric_snapshots")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="metric_snapshots"
    )
    metric = models.CharField(max_length=64)
    window = models.CharField(max_length=8, choices=Window.choices, default=Window.ALL)
    value = models.FloatField(null=True, blank=True)
    sample_size = models.PositiveIntegerField(default=0)
    details = models.JSONField(default=dict, blank=True)  # p-values, intervals, breakdowns
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["stream", "metric", "window", "annotator", "-computed_at"], name="snapshot_lookup"),
            # A stream's rows since a time (the last run's figures, the charts' last 30 days): without
            # it the stream's index walks every row it ever kept (90 days of runs).
            models.Index(fields=["stream", "computed_at"], name="snapshot_stream_time"),
        ]
        constraints = [models.CheckConstraint(condition=Q(window__in=["all", "recent"]), name="snapshot_window_valid")]


class Alert(models.Model):
    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    stream = models.ForeignKey("projects.Stream", on_delete=models.CASCADE, related_name="alerts")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    kind = models.CharField(max_length=64)  # e.g. "gold_accuracy_low", "position_bias", "rushing"
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    message = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    action_taken = models.CharField(max_length=200, blank=True)  # "paused annotator; 40 judgements sent to review"
    created_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["stream", "-created_at"], name="alert_stream_recent")]
        constraints = [
            models.CheckConstraint(
                condition=Q(severity__in=["info", "warning", "critical"]), name="alert_severity_valid"
            )
        ]


class PeriodicJob(models.Model):
    """One periodic job of ``CELERY_BEAT_SCHEDULE`` (its key is ``name``) and its last run: the
    heartbeat that tells a running scheduler from a dead one (``qc.selectors.periodic_health``).

    Written by whoever runs the job: ``manage.py run_periodic`` (the embedded mode), which also
    uses the row as its lock (a runner *claims* a due job by a conditional UPDATE of ``next_run_at``
    and ``claimed_until``, so two runners never run one job twice), and in production the Celery
    worker that executes what ``celery beat`` sends (``qc.periodic``'s task signals)."""

    name = models.CharField(max_length=100, unique=True)
    task = models.CharField(max_length=200)
    interval_seconds = models.FloatField()
    # The scheduler's lock: the job is next due at next_run_at; while claimed_until is in the
    # future a runner (claimed_by: "host:pid") is running it.
    next_run_at = models.DateTimeField(default=timezone.now)
    claimed_by = models.CharField(max_length=200, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    # The heartbeat: the last run's start and end, whether it raised, what it returned.
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_succeeded_at = models.DateTimeField(null=True, blank=True)
    last_ok = models.BooleanField(null=True, blank=True)
    last_result = models.CharField(max_length=200, blank=True)
    last_error = models.TextField(blank=True)
    runs = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(interval_seconds__gt=0), name="periodic_job_interval_positive")
        ]

    def __str__(self) -> str:
        return self.name


class GalleryExample(models.Model):
    """A judgement a PM or reviewer holds up to the stream's annotators: *exemplary* work, or an
    *instructive mistake*, with a note saying why. The gallery shows it without any name
    (``qc.gallery``); one entry per judgement (marking it again changes the kind and the note)."""

    class Kind(models.TextChoices):
        EXEMPLARY = "exemplary", "Exemplary"
        INSTRUCTIVE_MISTAKE = "instructive_mistake", "Instructive mistake"

    judgement = models.OneToOneField("annotation.Judgement", on_delete=models.CASCADE, related_name="gallery_example")
    stream = models.ForeignKey("projects.Stream", on_delete=models.CASCADE, related_name="gallery_examples")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    note = models.TextField(max_length=2000)
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["exemplary", "instructive_mistake"]), name="gallery_example_kind_valid"
            ),
        ]
        indexes = [models.Index(fields=["stream", "created_at"], name="gallery_example_stream")]


class CalibrationRound(models.Model):
    """A calibration round (``qc.calibration``): a PM picks items of a stream and its qualified
    annotators judge them blind, each with a short rationale, until the deadline or until the PM
    closes the round; then everyone sees the distribution of answers, the anonymised rationales
    and the PM's expected answer with its explanation.

    Its answers are ``CalibrationAnswer`` rows, never ``Judgement`` rows: they are out of the QC
    figures, the queue and the exports by construction. ``include_in_exports`` is the PM's choice
    to let them into training exports (``qc.calibration.answers_for_export``)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    stream = models.ForeignKey("projects.Stream", on_delete=models.CASCADE, related_name="calibration_rounds")
    title = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opened_at = models.DateTimeField(default=timezone.now)
    deadline = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    # Who closed it: a PM early (their user), or the periodic job at the deadline (null, closed_by_deadline).
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    include_in_exports = models.BooleanField(default=False)
    min_rationale_words = models.PositiveSmallIntegerField(default=3)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["open", "closed"]), name="calibration_round_status_valid"),
            models.CheckConstraint(
                condition=Q(status="open", closed_at__isnull=True) | Q(status="closed", closed_at__isnull=False),
                name="calibration_round_closed_has_time",
            ),
            models.CheckConstraint(
                condition=Q(deadline__gt=F("opened_at")), name="calibration_round_deadline_after_open"
            ),
        ]
        indexes = [
            models.Index(fields=["deadline"], condition=Q(status="open"), name="calibration_open_deadline"),
            models.Index(fields=["stream", "-opened_at"], name="calibration_round_stream"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class CalibrationItem(models.Model):
    """One item of a round, in the round's order, with the PM's expected answer (the vocabulary of
    golden answers: "A", "B", "tie", "both_bad", canonical order) and why. The expected answer may
    be set when the round opens or later; annotators see it only after the round closed."""

    round = models.ForeignKey(CalibrationRound, on_delete=models.CASCADE, related_name="items")
    item = models.ForeignKey("annotation.Item", on_delete=models.CASCADE, related_name="calibration_items")
    position = models.PositiveSmallIntegerField()
    expected_answer = models.CharField(max_length=16, blank=True)
    explanation = models.TextField(max_length=5000, blank=True)

    class Meta:
        ordering = ["round", "position"]
        constraints = [
            models.UniqueConstraint(fields=["round", "item"], name="calibration_item_once_per_round"),
            models.UniqueConstraint(fields=["round", "position"], name="calibration_item_position_unique"),
            models.CheckConstraint(
                condition=Q(expected_answer__in=["", "A", "B", "tie", "both_bad"]),
                name="calibration_item_expected_valid",
            ),
        ]


class CalibrationAnswer(models.Model):
    """One annotator's answer to one item of a round. The row is made when the item is first
    served (with the A/B order drawn for this annotator, as an assignment records it, and the
    ``idempotency_key`` the page's form carries); the submit fills ``choice``, ``strength`` and
    ``rationale`` once: a second post with the same key stores nothing more."""

    round_item = models.ForeignKey(CalibrationItem, on_delete=models.CASCADE, related_name="answers")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    display_order = models.JSONField(default=list)
    served_at = models.DateTimeField(default=timezone.now)
    idempotency_key = models.CharField(max_length=64, unique=True)
    choice = models.CharField(max_length=16, blank=True)  # canonical, as Judgement.choice; "" until submitted
    strength = models.PositiveSmallIntegerField(null=True, blank=True)
    rationale = models.TextField(max_length=5000, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["round_item", "id"]
        constraints = [
            models.UniqueConstraint(fields=["round_item", "annotator"], name="calibration_answer_once"),
            models.CheckConstraint(
                condition=Q(choice__in=["", "A", "B", "tie", "both_bad"]), name="calibration_answer_choice_valid"
            ),
            # Submitted means answered, with a rationale; served-only rows carry neither.
            models.CheckConstraint(
                condition=Q(submitted_at__isnull=True, choice="")
                | (Q(submitted_at__isnull=False) & ~Q(choice="") & ~Q(rationale="")),
                name="calibration_answer_submitted_complete",
            ),
        ]
        indexes = [models.Index(fields=["annotator", "round_item"], name="calibration_answer_user")]
