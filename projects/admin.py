"""Admin for staff. Everything is escaped by Django's admin (model output and imported text show as
text, never as HTML); foreign keys use raw ids so pages stay fast with a million rows."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from projects.forms import RateLimitedAdminAuthenticationForm
from projects.models import (
    AnnotatorProfile,
    ApiToken,
    GuidelineVersion,
    Membership,
    Project,
    Stream,
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


@admin.register(Stream)
class StreamAdmin(admin.ModelAdmin[Stream]):
    list_display = ["name", "project", "slug", "task_kind", "mode", "status", "priority", "overlap", "golden_rate"]
    list_filter = ["status", "task_kind", "mode", "project"]
    search_fields = ["name", "slug", "project__slug"]
    list_select_related = ["project"]
    raw_id_fields = ["project"]


class StreamMembershipEventInline(admin.TabularInline[StreamMembershipEvent, StreamMembership]):
    model = StreamMembershipEvent
    extra = 0
    raw_id_fields = ["actor"]
    readonly_fields = ["from_status", "to_status", "actor", "reason", "created_at"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the history is written by the service that changes status


@admin.register(GuidelineVersion)
class GuidelineVersionAdmin(admin.ModelAdmin[GuidelineVersion]):
    list_display = ["id", "stream", "number", "author", "change_note", "created_at"]
    raw_id_fields = ["stream", "author"]
    list_select_related = ["stream", "author"]


@admin.register(StreamMembership)
class StreamMembershipAdmin(admin.ModelAdmin[StreamMembership]):
    list_display = ["user", "stream", "status", "status_reason", "peer_reviewer", "updated_at"]
    list_filter = ["status", "peer_reviewer"]
    search_fields = ["user__username", "stream__slug"]
    list_select_related = ["user", "stream__project"]
    raw_id_fields = ["user", "stream", "peer_reviewer_by"]
    inlines = [StreamMembershipEventInline]


@admin.register(StreamMembershipEvent)
class StreamMembershipEventAdmin(admin.ModelAdmin[StreamMembershipEvent]):
    list_display = ["stream_membership", "from_status", "to_status", "action", "actor", "reason", "created_at"]
    list_filter = ["to_status", "action"]
    raw_id_fields = ["stream_membership", "actor"]


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
