"""Admin for reviews, QC figures, alerts and exports (staff only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from qc.models import (
    Alert,
    CalibrationAnswer,
    CalibrationItem,
    CalibrationRound,
    GalleryExample,
    MetricSnapshot,
    PeriodicJob,
    Review,
    ReviewTask,
)


@admin.register(ReviewTask)
class ReviewTaskAdmin(admin.ModelAdmin[ReviewTask]):
    list_display = ["id", "judgement", "stream", "reason", "reviews_wanted", "done", "created_at"]
    list_filter = ["reason", "done"]
    raw_id_fields = ["judgement", "stream"]
    show_full_result_count = False


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin[Review]):
    list_display = ["id", "judgement", "reviewer", "decision", "reason", "created_at"]
    list_filter = ["decision"]
    search_fields = ["reviewer__username"]
    list_select_related = ["reviewer"]
    raw_id_fields = ["judgement", "reviewer"]
    show_full_result_count = False


@admin.register(MetricSnapshot)
class MetricSnapshotAdmin(admin.ModelAdmin[MetricSnapshot]):
    list_display = ["id", "stream", "annotator", "metric", "window", "value", "sample_size", "computed_at"]
    list_filter = ["metric", "window"]
    raw_id_fields = ["stream", "annotator"]
    show_full_result_count = False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin[Alert]):
    list_display = ["id", "stream", "annotator", "kind", "severity", "action_taken", "created_at", "acknowledged_at"]
    list_filter = ["severity", "kind"]
    raw_id_fields = ["stream", "annotator", "acknowledged_by"]


@admin.register(PeriodicJob)
class PeriodicJobAdmin(admin.ModelAdmin[PeriodicJob]):
    """The periodic jobs' last runs (the scheduler writes them; edit ``next_run_at`` to run one now)."""

    list_display = ["name", "last_started_at", "last_finished_at", "last_ok", "next_run_at"]
    readonly_fields = [
        "name",
        "task",
        "interval_seconds",
        "claimed_by",
        "claimed_until",
        "last_started_at",
        "last_finished_at",
        "last_succeeded_at",
        "last_ok",
        "last_result",
        "last_error",
        "runs",
    ]

    # The rows mirror settings.CELERY_BEAT_SCHEDULE (``qc.periodic.ensure_rows``): adding or
    # deleting one here would be undone by the scheduler, so only ``next_run_at`` is editable.
    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(GalleryExample)
class GalleryExampleAdmin(admin.ModelAdmin[GalleryExample]):
    list_display = ["id", "stream", "judgement", "kind", "marked_by", "created_at"]
    list_filter = ["kind"]
    raw_id_fields = ["judgement", "stream", "marked_by"]
    show_full_result_count = False


@admin.register(CalibrationRound)
class CalibrationRoundAdmin(admin.ModelAdmin[CalibrationRound]):
    list_display = ["id", "stream", "title", "status", "opened_at", "deadline", "closed_at", "include_in_exports"]
    list_filter = ["status", "include_in_exports"]
    raw_id_fields = ["stream", "created_by", "closed_by"]


@admin.register(CalibrationItem)
class CalibrationItemAdmin(admin.ModelAdmin[CalibrationItem]):
    list_display = ["id", "round", "item", "position", "expected_answer"]
    raw_id_fields = ["round", "item"]
    show_full_result_count = False


@admin.register(CalibrationAnswer)
class CalibrationAnswerAdmin(admin.ModelAdmin[CalibrationAnswer]):
    list_display = ["id", "round_item", "annotator", "choice", "strength", "served_at", "submitted_at"]
    raw_id_fields = ["round_item", "annotator"]
    show_full_result_count = False
