"""A model as a monitored annotator: a judge attached to a stream, its runs and its verdicts.

A judge is one of the project's model endpoints asked, for each item, which response is better,
once in each display order. A verdict that agrees across the swap becomes a judgement with
``source="model"`` made by the judge's service user (never counted toward an item's overlap and
never in a human's figures); an inconsistent one is recorded as such and nothing else.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from quorum import jobs


class Judge(models.Model):
    """One model endpoint judging one stream, with its prompt, budget and the uses the PM chose."""

    stream = models.OneToOneField("projects.Stream", on_delete=models.CASCADE, related_name="judge")
    endpoint = models.ForeignKey("dynamic.ModelEndpoint", on_delete=models.PROTECT, related_name="judges")
    # The judge's identity on its judgements: an inactive account that cannot log in.
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="judge")
    prompt_template = models.TextField()
    budget_requests = models.PositiveIntegerField(default=2000)
    budget_tokens = models.PositiveBigIntegerField(default=2_000_000)
    spent_requests = models.PositiveIntegerField(default=0)
    spent_tokens = models.PositiveBigIntegerField(default=0)
    concurrency = models.PositiveSmallIntegerField(default=2)
    # Uses, each off by default (issue 14 part 3).
    use_escalate = models.BooleanField(default=False)
    use_vote = models.BooleanField(default=False)
    use_suggest = models.BooleanField(default=False)
    suggest_holdout = models.FloatField(default=0.2)  # share of items shown without the judge's pick
    is_active = models.BooleanField(default=True)
    # Judge new items as they arrive: the periodic job starts a run for them each period.
    follow = models.BooleanField(default=True)
    # Of ``spent_tokens``: tokens estimated (about 4 characters a token) for answers whose
    # endpoint reported no usage.
    estimated_tokens = models.PositiveBigIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(suggest_holdout__gte=0) & Q(suggest_holdout__lte=1), name="judge_holdout_0_1"
            ),
            models.CheckConstraint(condition=Q(concurrency__gte=1), name="judge_concurrency_positive"),
        ]

    def __str__(self) -> str:
        return f"judge of stream {self.stream_id}"

    @property
    def budget_left(self) -> bool:
        """Room for one more request: under both the request and the token budget."""
        return self.spent_requests < self.budget_requests and self.spent_tokens < self.budget_tokens


class JudgeRun(models.Model):
    """One pass of a judge over the stream's items it has not judged yet (a Celery job).

    Liveness as for exports (``quorum.jobs``): a running run writes ``heartbeat_at``; one silent
    for ``QUORUM_JOB_STALE_SECONDS`` lost its worker and is queued again (``attempts``) or failed.
    A run that used its time slice goes back to pending and continues on its next turn."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        STOPPED = "stopped", "Stopped"
        FAILED = "failed", "Failed"

    class StopReason(models.TextChoices):
        BUDGET = "budget", "stopped: budget"
        ERRORS = "errors", "stopped: the endpoint keeps failing"
        PM = "pm", "stopped by a project manager"
        INACTIVE = "inactive", "stopped: the judge or its endpoint is switched off"
        UNREACHABLE = "unreachable", "stopped: the endpoint cannot be reached"

    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    stop_reason = models.CharField(max_length=16, choices=StopReason.choices, blank=True)
    # "pm": started from the judge's page; "follow": started by the periodic job for new items.
    trigger = models.CharField(max_length=16, default="pm")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    items_total = models.PositiveIntegerField(default=0)  # items waiting for a verdict when it started
    consistent = models.PositiveIntegerField(default=0)
    inconsistent = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    retries = models.PositiveIntegerField(default=0)  # requests repeated after a transient error
    tokens = models.PositiveBigIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)  # the safe message
    last_error_detail = models.TextField(blank=True)  # the exact upstream error, for PMs
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "done", "stopped", "failed"]),
                name="judgerun_status_valid",
            ),
            # One open run per judge: two runs would judge the same items and split the budget.
            models.UniqueConstraint(
                fields=["judge"], condition=Q(status__in=["pending", "running"]), name="judgerun_one_open_per_judge"
            ),
        ]
        indexes = [
            models.Index(fields=["heartbeat_at"], condition=Q(status="running"), name="judgerun_running_heartbeat"),
        ]

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.PENDING, self.Status.RUNNING)

    @property
    def judged(self) -> int:
        return self.consistent + self.inconsistent + self.errors

    def status_text(self) -> str:
        """ "stopped: budget", "done", "running"...: what the page says."""
        if self.status == self.Status.STOPPED and self.stop_reason:
            return self.get_stop_reason_display()
        return self.get_status_display()

    def liveness(self) -> jobs.Liveness | None:
        if self.status != self.Status.RUNNING:
            return None
        return jobs.liveness(heartbeat_at=self.heartbeat_at, attempts=max(1, self.attempts))


class Verdict(models.Model):
    """The judge's answer on one item: both display orders, in canonical terms."""

    class Status(models.TextChoices):
        CONSISTENT = "consistent", "Consistent across the swap"
        INCONSISTENT = "inconsistent", "Changed with the display order"
        ERROR = "error", "Failed"

    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="verdicts")
    item = models.ForeignKey("annotation.Item", on_delete=models.CASCADE, related_name="verdicts")
    status = models.CharField(max_length=16, choices=Status.choices)
    # Canonical answers ("A" = responses[0]) when shown in canonical order, and when swapped.
    answer_shown_ab = models.CharField(max_length=16, blank=True)
    answer_shown_ba = models.CharField(max_length=16, blank=True)
    reason_shown_ab = models.TextField(blank=True)
    reason_shown_ba = models.TextField(blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)  # safe to show; upstream bodies are not echoed
    error_detail = models.TextField(blank=True)  # the exact upstream error, for PMs only
    # The endpoint reported no usage: the tokens are an estimate (about 4 characters a token).
    tokens_estimated = models.BooleanField(default=False)
    run = models.ForeignKey(JudgeRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="verdicts")
    judgement = models.OneToOneField(
        "annotation.Judgement", null=True, blank=True, on_delete=models.SET_NULL, related_name="verdict"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["judge", "item"], name="verdict_one_per_judge_item"),
            models.CheckConstraint(
                condition=Q(status__in=["consistent", "inconsistent", "error"]), name="verdict_status_valid"
            ),
        ]
