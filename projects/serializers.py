"""API representations of projects, streams, items, judgements and tokens (machine clients)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from annotation.models import Item, Judgement
from projects.models import ApiToken, Project, Stream
from qc.models import MetricSnapshot


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
            "created_at",
        ]


class MessageSerializer(serializers.Serializer[Any]):
    role = serializers.CharField()
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)


class ResponseSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(allow_blank=True, trim_whitespace=False)
    model = serializers.CharField(allow_blank=True, required=False)
    metadata = serializers.DictField(required=False)


class ItemSerializer(serializers.ModelSerializer[Item]):
    """For reviewers and PMs only: includes the golden answer."""

    context: Any = MessageSerializer(many=True)
    responses: Any = ResponseSerializer(many=True)
    golden_answers = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = Item
        fields = [
            "id",
            "stream",
            "external_id",
            "pool",
            "context",
            "responses",
            "metadata",
            "is_golden",
            "golden_answers",
            "golden_explanation",
            "priority",
            "judgement_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class JudgementSerializer(serializers.ModelSerializer[Judgement]):
    class Meta:
        model = Judgement
        fields = [
            "id",
            "item",
            "stream",
            "annotator",
            "choice",
            "strength",
            "ranking",
            "rubric",
            "rationale",
            "flag_harmful",
            "flag_pii",
            "flag_cannot_judge",
            "display_order",
            "served_at",
            "submitted_at",
            "active_seconds",
            "counted",
            "is_current",
            "supersedes",
            "gold_correct",
            "source",
        ]
        read_only_fields = fields


class MetricSnapshotSerializer(serializers.ModelSerializer[MetricSnapshot]):
    class Meta:
        model = MetricSnapshot
        fields = ["id", "stream", "annotator", "metric", "window", "value", "sample_size", "details", "computed_at"]
        read_only_fields = fields


# The QC metrics document (qc.selectors.metrics_report): documents the API schema only.
class _MetricStreamSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    project = serializers.CharField()
    slug = serializers.CharField()
    name = serializers.CharField()


class _MetricThresholdsSerializer(serializers.Serializer[Any]):
    min_sample = serializers.IntegerField()
    min_gold_count = serializers.IntegerField()
    min_gold_accuracy = serializers.FloatField()
    min_agreement = serializers.FloatField()
    min_seconds = serializers.FloatField()


class _FlaggedAnnotatorSerializer(serializers.Serializer[Any]):
    annotator = serializers.CharField()
    metrics = serializers.ListField(child=serializers.CharField())


class MetricFigureSerializer(serializers.Serializer[Any]):
    scope = serializers.ChoiceField(choices=["stream", "annotator"])
    annotator = serializers.CharField(allow_null=True)
    annotator_id = serializers.IntegerField(allow_null=True)
    metric = serializers.CharField()
    window = serializers.ChoiceField(choices=MetricSnapshot.Window.values)
    value = serializers.FloatField(allow_null=True)
    sample_size = serializers.IntegerField()
    flagged = serializers.BooleanField()
    details = serializers.DictField()
    computed_at = serializers.DateTimeField()


class _MetricAnnotatorSerializer(serializers.Serializer[Any]):
    annotator = serializers.CharField(help_text="Username.")
    annotator_id = serializers.IntegerField()
    status = serializers.CharField(help_text="Standing in the stream: invited, qualified, paused, ...")


class _MetricAlertSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="The QC rule that fired (docs/qc.md).")
    severity = serializers.ChoiceField(choices=["info", "warning", "critical"])
    annotator = serializers.CharField(allow_null=True)
    message = serializers.CharField()
    action_taken = serializers.CharField()
    details = serializers.DictField(help_text="The figure that triggered it: metric, window, value, sample_size, ...")
    created_at = serializers.DateTimeField()


class MetricsReportSerializer(serializers.Serializer[Any]):
    stream = _MetricStreamSerializer()
    computed_at = serializers.DateTimeField(allow_null=True)
    recent_days = serializers.IntegerField()
    thresholds = _MetricThresholdsSerializer()
    flagged_annotators = _FlaggedAnnotatorSerializer(many=True)
    annotators = _MetricAnnotatorSerializer(many=True)
    open_alerts = _MetricAlertSerializer(many=True)
    results = MetricFigureSerializer(many=True)


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


class ItemImportSerializer(serializers.Serializer[Any]):
    """A bulk import through the importer (docs/import.md): JSON Lines text in one of its formats."""

    format = serializers.ChoiceField(choices=["native", "trl", "hh", "mapped"], default="native")
    data: Any = serializers.CharField(trim_whitespace=False, help_text="JSON Lines, one item per line (up to 10 MB).")
    mapping = serializers.DictField(child=serializers.CharField(), required=False, help_text="mapped format only.")
    skip_invalid = serializers.BooleanField(default=False, help_text="Import the valid lines, report the rest.")
    on_mismatch = serializers.ChoiceField(choices=["full", "skip"], default="full")


class ImportIssueSerializer(serializers.Serializer[Any]):
    line = serializers.IntegerField()
    field = serializers.CharField()
    message = serializers.CharField()


class ImportReportSerializer(serializers.Serializer[Any]):
    batch_id = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    lines_read = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    invalid = serializers.IntegerField()
    skipped = serializers.IntegerField()
    protected = serializers.IntegerField()
    errors: Any = ImportIssueSerializer(many=True)
    warnings = ImportIssueSerializer(many=True)
    failure = serializers.CharField()
