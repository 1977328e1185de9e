"""API representations of projects, streams, items, judgements and tokens (machine clients)."""

from __future__ import annotations

from rest_framework import serializers

from projects.forms import StreamForm
from projects.models import ApiToken, Project, Stream


class ProjectSerializer(serializers.ModelSerializer[Project]):
    class Meta:
        model = Project
        fields = ["id", "slug", "name", "description", "archived", "created_at"]


class StreamSerializer(serializers.ModelSerializer[Stream]):
    project: serializers.SlugRelatedField[Project] = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Stream
        fields = [
            "id",
            "project",
            "slug",
            "name",
            "task_kind",
            "mode",
            "status",
            "priority",
            "overlap",
            "rubric",
            "attributes",
            "justification_min_words",
            "harm_categories",
            "created_at",
        ]


# The representation's own fields, not settings: a PATCH that names one is a 400.
STREAM_READ_ONLY = ("id", "project", "guideline_version", "created_at", "updated_at")


class StreamSettingsSerializer(serializers.ModelSerializer[Stream]):
    """Every setting of the stream form (``projects.forms.StreamForm``), for reviewers and PMs;
    ``PATCH /api/streams/<id>/`` takes any of them and validates them with that form."""

    project: serializers.SlugRelatedField[Project] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    rubric = serializers.ListField(
        child=serializers.ChoiceField(choices=list(Stream.RUBRIC_CHOICES)),
        required=False,
        help_text="Attributes rated 0-4 per response, besides the preference.",
    )
    attributes = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Per-attribute pairwise streams: the attributes judged A/B/tie, most important first "
        "(distinct, non-empty, at most 12 of up to 40 characters).",
    )
    harm_categories = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Helpful-and-safe streams: the harm categories an unsafe response may be given.",
    )

    class Meta:
        model = Stream
        fields = ["id", "project", *StreamForm.Meta.fields, "guideline_version", "created_at", "updated_at"]
        read_only_fields = list(STREAM_READ_ONLY)


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "key_prefix", "created_at", "last_used_at", "revoked_at", "is_active"]
        read_only_fields = ["id", "key_prefix", "created_at", "last_used_at", "revoked_at", "is_active"]


class NewApiTokenSerializer(ApiTokenSerializer):
    """The answer to a token creation: the only time the key is ever shown."""

    key = serializers.CharField(read_only=True)

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]
