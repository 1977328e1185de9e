"""Admin for model endpoints and the conversations of dynamic labeling."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from dynamic.forms import check_key_binding, clean_endpoint_url, clean_key_env_name
from dynamic.models import Conversation, ConversationCandidate, Generation, ModelEndpoint, StreamEndpoint, Turn
from projects.models import (
    Stream,
)


class StreamEndpointInline(admin.TabularInline[StreamEndpoint, Stream]):
    model = StreamEndpoint
    extra = 0
    raw_id_fields = ["endpoint"]


class ModelEndpointAdminForm(forms.ModelForm[ModelEndpoint]):
    """The admin applies the PM form's checks: the SSRF guard on the URL (at save; the connection
    checks again), a key variable name that cannot point at another secret, and a key the operator
    bound to this project and host (``QUORUM_ENDPOINT_KEYS``)."""

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

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        project = cleaned.get("project")
        if project is not None:
            check_key_binding(self, project_slug=project.slug)
        return cleaned


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
