"""Admin for items, leases, judgements and conversations. Staff only (the admin itself); golden
answers are fine to show here. Model output and imported text are shown escaped by the admin."""

from __future__ import annotations

from django.contrib import admin

from annotation.models import Assignment, Conversation, ConversationCandidate, Generation, Item, Judgement, Turn


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin[Item]):
    list_display = ["id", "stream", "external_id", "pool", "is_golden", "judgement_count", "claim_count", "priority"]
    list_filter = ["is_golden", "pool"]
    search_fields = ["external_id"]
    list_select_related = ["stream__project"]
    raw_id_fields = ["stream", "import_batch"]
    readonly_fields = ["content_hash", "judgement_count", "claim_count", "created_at", "updated_at"]
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
    list_filter = ["choice", "is_current", "counted", "source", "flag_harmful"]
    search_fields = ["annotator__username", "item__external_id", "idempotency_key"]
    list_select_related = ["annotator", "item"]
    raw_id_fields = ["assignment", "item", "stream", "annotator", "supersedes"]
    show_full_result_count = False


class ConversationCandidateInline(admin.TabularInline[ConversationCandidate, Conversation]):
    model = ConversationCandidate
    extra = 0
    raw_id_fields = ["endpoint"]


class TurnInline(admin.TabularInline[Turn, Conversation]):
    model = Turn
    extra = 0
    raw_id_fields = ["item"]
    fields = ["index", "user_message", "status", "item", "chosen_position", "created_at"]


@admin.register(ConversationCandidate)
class ConversationCandidateAdmin(admin.ModelAdmin[ConversationCandidate]):
    list_display = ["id", "conversation", "position", "endpoint"]
    raw_id_fields = ["conversation", "endpoint"]


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin[Conversation]):
    list_display = ["id", "stream", "annotator", "status", "created_at", "ended_at"]
    list_filter = ["status"]
    search_fields = ["annotator__username"]
    list_select_related = ["annotator", "stream"]
    raw_id_fields = ["stream", "annotator"]
    inlines = [ConversationCandidateInline, TurnInline]


class GenerationInline(admin.TabularInline[Generation, Turn]):
    model = Generation
    extra = 0
    raw_id_fields = ["endpoint"]


@admin.register(Turn)
class TurnAdmin(admin.ModelAdmin[Turn]):
    list_display = ["id", "conversation", "index", "status", "chosen_position", "created_at"]
    list_filter = ["status"]
    raw_id_fields = ["conversation", "item"]
    inlines = [GenerationInline]


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin[Generation]):
    list_display = ["id", "turn", "position", "endpoint", "status", "attempts", "latency_ms"]
    list_filter = ["status"]
    raw_id_fields = ["turn", "endpoint"]
