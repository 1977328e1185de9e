"""Admin for qualification tests, questions, attempts and answers."""

from __future__ import annotations

from django.contrib import admin

from qualification.models import QualificationAnswer, QualificationAttempt, QualificationQuestion, QualificationTest


class QualificationQuestionInline(admin.TabularInline[QualificationQuestion, QualificationTest]):
    model = QualificationQuestion
    extra = 0
    raw_id_fields = ["item"]


@admin.register(QualificationTest)
class QualificationTestAdmin(admin.ModelAdmin[QualificationTest]):
    list_display = ["stream", "pass_mark", "max_attempts", "cooldown_hours", "is_active"]
    list_filter = ["is_active"]
    list_select_related = ["stream__project"]
    raw_id_fields = ["stream"]
    inlines = [QualificationQuestionInline]


@admin.register(QualificationQuestion)
class QualificationQuestionAdmin(admin.ModelAdmin[QualificationQuestion]):
    list_display = ["id", "test", "item", "acceptable_answers", "position"]
    raw_id_fields = ["test", "item"]


class QualificationAnswerInline(admin.TabularInline[QualificationAnswer, QualificationAttempt]):
    model = QualificationAnswer
    extra = 0
    raw_id_fields = ["question"]


@admin.register(QualificationAttempt)
class QualificationAttemptAdmin(admin.ModelAdmin[QualificationAttempt]):
    list_display = ["id", "test", "user", "number", "started_at", "submitted_at", "score", "passed"]
    list_filter = ["passed"]
    search_fields = ["user__username"]
    raw_id_fields = ["test", "user"]
    inlines = [QualificationAnswerInline]


@admin.register(QualificationAnswer)
class QualificationAnswerAdmin(admin.ModelAdmin[QualificationAnswer]):
    list_display = ["id", "attempt", "question", "answer", "correct", "answered_at"]
    raw_id_fields = ["attempt", "question"]
