"""Admin for staff. Everything is escaped by Django's admin (model output and imported text show as
text, never as HTML); foreign keys use raw ids so pages stay fast with a million rows."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from projects.forms import RateLimitedAdminAuthenticationForm, clean_endpoint_url, clean_key_env_name
from projects.models import (
    AnnotatorProfile,
    ApiToken,
    ImportBatch,
    Membership,
    ModelEndpoint,
    Project,
    QualificationAnswer,
    QualificationAttempt,
    QualificationQuestion,
    QualificationTest,
    Stream,
    StreamEndpoint,
    StreamMembership,
    StreamMembershipEvent,
)

# The admin's login shares the login rate limit, so it is no way around it.
admin.site.login_form = RateLimitedAdminAuthenticationForm
admin.site.site_header = "Quorum administration"
admin.site.site_title = "Quorum admin"


class MembershipInline(admin.TabularInline[Membership, Project]):
    model = Membership
    extra = 0
    raw_id_fields = ["user", "invited_by"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin[Project]):
    list_display = ["name", "slug", "archived", "created_at"]
    list_filter = ["archived"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    raw_id_fields = ["created_by"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__slug"]
    list_select_related = ["user", "project"]
    raw_id_fields = ["user", "project", "invited_by"]


@admin.register(AnnotatorProfile)
class AnnotatorProfileAdmin(admin.ModelAdmin[AnnotatorProfile]):
    list_display = ["user", "profession", "updated_at"]
    search_fields = ["user__username", "profession", "education"]
    raw_id_fields = ["user"]


class StreamEndpointInline(admin.TabularInline[StreamEndpoint, Stream]):
    model = StreamEndpoint
    extra = 0
    raw_id_fields = ["endpoint"]


@admin.register(Stream)
class StreamAdmin(admin.ModelAdmin[Stream]):
    list_display = ["name", "project", "slug", "task_kind", "mode", "status", "priority", "overlap", "golden_rate"]
    list_filter = ["status", "task_kind", "mode", "project"]
    search_fields = ["name", "slug", "project__slug"]
    list_select_related = ["project"]
    raw_id_fields = ["project"]
    inlines = [StreamEndpointInline]


class StreamMembershipEventInline(admin.TabularInline[StreamMembershipEvent, StreamMembership]):
    model = StreamMembershipEvent
    extra = 0
    raw_id_fields = ["actor"]
    readonly_fields = ["from_status", "to_status", "actor", "reason", "created_at"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the history is written by the service that changes status


@admin.register(StreamMembership)
class StreamMembershipAdmin(admin.ModelAdmin[StreamMembership]):
    list_display = ["user", "stream", "status", "status_reason", "updated_at"]
    list_filter = ["status"]
    search_fields = ["user__username", "stream__slug"]
    list_select_related = ["user", "stream__project"]
    raw_id_fields = ["user", "stream"]
    inlines = [StreamMembershipEventInline]


@admin.register(StreamMembershipEvent)
class StreamMembershipEventAdmin(admin.ModelAdmin[StreamMembershipEvent]):
    list_display = ["stream_membership", "from_status", "to_status", "action", "actor", "reason", "created_at"]
    list_filter = ["to_status", "action"]
    raw_id_fields = ["stream_membership", "actor"]


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


class ModelEndpointAdminForm(forms.ModelForm[ModelEndpoint]):
    """The admin applies the PM form's checks: the SSRF guard on the URL (at save; the connection
    checks again) and a key variable name that cannot point at another secret."""

    class Meta:
        model = ModelEndpoint
        fields = [
            "project", "name", "base_url", "model", "parameters", "system_prompt", "api_key_env",
            "timeout_seconds", "is_active",
        ]  # fmt: skip

    def clean_base_url(self) -> str:
        return clean_endpoint_url(self.cleaned_data["base_url"])

    def clean_api_key_env(self) -> str:
        return clean_key_env_name(self.cleaned_data["api_key_env"])


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(admin.ModelAdmin[ModelEndpoint]):
    form = ModelEndpointAdminForm
    # api_key_env is the *name* of an environment variable, never the key: fine to show to staff.
    list_display = ["name", "project", "model", "base_url", "api_key_env", "is_active"]
    list_filter = ["is_active", "project"]
    search_fields = ["name", "model", "base_url"]
    raw_id_fields = ["project"]


@admin.register(StreamEndpoint)
class StreamEndpointAdmin(admin.ModelAdmin[StreamEndpoint]):
    list_display = ["stream", "endpoint", "weight"]
    raw_id_fields = ["stream", "endpoint"]


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


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    """Tokens are created with ``manage.py create_api_token`` (the key is shown once there); the
    admin lists and revokes them and never sees a key, only its hash and prefix."""

    list_display = ["key_prefix", "name", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["user__username", "name", "key_prefix"]
    raw_id_fields = ["user"]
    readonly_fields = ["key_hash", "key_prefix", "created_at", "last_used_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
