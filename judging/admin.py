"""Admin for model judges, their runs and verdicts (staff only). Model output is shown escaped."""

from __future__ import annotations

from django.contrib import admin

from judging.models import Judge, JudgeRun, Verdict


@admin.register(Judge)
class JudgeAdmin(admin.ModelAdmin[Judge]):
    list_display = ["id", "stream", "endpoint", "is_active", "spent_requests", "spent_tokens", "created_at"]
    list_filter = ["is_active", "use_escalate", "use_vote", "use_suggest"]
    raw_id_fields = ["stream", "endpoint", "user", "created_by"]


@admin.register(JudgeRun)
class JudgeRunAdmin(admin.ModelAdmin[JudgeRun]):
    list_display = ["id", "judge", "status", "stop_reason", "consistent", "inconsistent", "errors", "created_at"]
    list_filter = ["status", "stop_reason"]
    raw_id_fields = ["judge", "created_by"]
    show_full_result_count = False


@admin.register(Verdict)
class VerdictAdmin(admin.ModelAdmin[Verdict]):
    list_display = ["id", "judge", "item", "status", "answer_shown_ab", "answer_shown_ba", "created_at"]
    list_filter = ["status"]
    raw_id_fields = ["judge", "item", "run", "judgement"]
    show_full_result_count = False
