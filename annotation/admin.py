"""Admin for items, leases, judgements and conversations. Staff only (the admin itself); golden
answers are fine to show here. Model output and imported text are shown escaped by the admin."""

from __future__ import annotations

from django.contrib import admin

from annotation.models import Assignment, ImportBatch, Item, ItemEscalation, Judgement


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin[Item]):
    list_display = ["id", "stream", "external_id", "pool", "is_golden", "judgement_count", "claim_count", "priority"]
    list_filter = ["is_golden", "pool"]
    search_fields = ["external_id"]
    list_select_related = ["stream__project"]
    raw_id_fields = ["stream", "import_batch"]
    readonly_fields = ["content_hash", "judgement_count", "claim_count", "first_agreed", "created_at", "updated_at"]
    show_full_result_count = False  # no COUNT(*) over a million items on every page


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin[Assignment]):
    list_display = ["id", "item", "annotator", "status", "served_at", "lease_expires_at", "skip_reason"]
    list_filter = ["status", "skip_reason"]
    search_fields = ["annotator__username", "item__external_id"]
    list_select_related = ["annotator", "item"]
    raw_id_fields = ["item", "stream", "annotator"]
    show_full_result_count = False


@admin.register(Judgement)
class JudgementAdmin(admin.ModelAdmin[Judgement]):
    list_display = [
        "id",
        "item",
        "annotator",
        "choice",
        "strength",
        "gold_correct",
        "counted",
        "is_current",
        "submitted_at",
    ]
    list_filter = ["choice", "is_current", "counted", "excluded_reason", "source", "flag_harmful"]
    # Set through annotation.services.exclude_judgements / restore_judgements, which keep the
    # item's counters in step: never by hand.
    readonly_fields = ["excluded_reason", "excluded_at"]
    search_fields = ["annotator__username", "item__external_id", "idempotency_key"]
    list_select_related = ["annotator", "item"]
    raw_id_fields = ["assignment", "item", "stream", "annotator", "supersedes"]
    show_full_result_count = False


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin[ImportBatch]):
    list_display = [
        "id",
        "stream",
        "filename",
        "format",
        "status",
        "created_count",
        "updated_count",
        "invalid_count",
        "created_at",
    ]
    list_filter = ["status", "format"]
    search_fields = ["filename", "stream__slug"]
    list_select_related = ["stream__project"]
    raw_id_fields = ["stream", "created_by"]


@admin.register(ItemEscalation)
class ItemEscalationAdmin(admin.ModelAdmin[ItemEscalation]):
    list_display = ["id", "item", "stream", "by", "agreed_answer", "other_answer", "created_at"]
    list_filter = ["by"]
    raw_id_fields = ["item", "stream"]
    show_full_result_count = False
