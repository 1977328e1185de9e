"""Export runs: the settings they were made with, their files and their manifest."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from quorum import jobs


class Export(models.Model):
    """One export run: settings in, counts + files + manifest out."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="exports")
    streams = models.ManyToManyField("projects.Stream", related_name="exports")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    format = models.CharField(max_length=32)  # trl, trl-conversational, reward, kto, raw
    aggregation = models.CharField(max_length=32, default="majority")
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    progress = models.FloatField(default=0.0)
    counts = models.JSONField(default=dict, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    files = models.JSONField(default=list, blank=True)  # [{"name", "path", "rows", "sha256"}]
    # For "only what is new since": the export this one continues from.
    since_export = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Liveness (quorum/jobs.py): runs started so far, and the last sign of life of the current
    # one. A running export silent for QUORUM_JOB_STALE_SECONDS lost its worker: the sweeper
    # queues it again or fails it. ``queued``: run by a worker (False: by export_preferences in
    # its own process, which nobody else can resume — such an export is failed, not re-queued).
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    queued = models.BooleanField(default=True)

    class Meta:
        db_table = "qc_export"  # its name from before the move (docs/architecture.md)
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "done", "failed"]), name="export_status_valid"
            ),
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=1), name="export_progress_0_1"),
        ]
        indexes = [
            # The sweeper's look: running exports by heartbeat (few rows; the partial index stays small).
            models.Index(fields=["heartbeat_at"], condition=Q(status="running"), name="export_running_heartbeat"),
        ]

    @property
    def max_attempts(self) -> int:
        return jobs.max_attempts()

    def liveness(self) -> jobs.Liveness | None:
        """For a running export: how long it has been silent and what happens when (the page)."""
        if self.status != self.Status.RUNNING:
            return None
        return jobs.liveness(heartbeat_at=self.heartbeat_at, attempts=self.attempts)
