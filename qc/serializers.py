"""API representations of exports and of the options an export takes."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from qc.models import MetricSnapshot


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


# --- Pausing and resuming an annotator (PMs) -------------------------------------------------------
class ReasonSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=500, help_text="Kept with the change; the annotator sees it.")


class AnnotatorStandingSerializer(serializers.Serializer[Any]):
    annotator = serializers.IntegerField()
    stream = serializers.IntegerField()
    status = serializers.CharField(help_text="The annotator's standing in the stream after the change.")
    reason = serializers.CharField()


class RecomputeSerializer(serializers.Serializer[Any]):
    """The answer of ``POST /api/streams/<id>/qc/recompute/`` (documents the schema)."""

    stream = serializers.IntegerField()
    queued = serializers.BooleanField(help_text="True: queued for a worker; False: computed in the request.")
    computed_at = serializers.DateTimeField(allow_null=True, help_text="The new run's time (null when queued).")


class GalleryMessageSerializer(serializers.Serializer[Any]):
    role = serializers.CharField()
    content = serializers.CharField()


class GalleryResponseSerializer(serializers.Serializer[Any]):
    letter = serializers.CharField(help_text="A, B, ...: the file's order.")
    text = serializers.CharField()
    chosen = serializers.BooleanField()


class GalleryEntrySerializer(serializers.Serializer[Any]):
    """One example of the gallery (``qc.gallery.GalleryEntry``): no person in it."""

    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["exemplary", "instructive_mistake"])
    note = serializers.CharField()
    answer = serializers.CharField(help_text="The answer in words, e.g. “B is better, clearly better”.")
    conversation = GalleryMessageSerializer(many=True, help_text="The item's context.")
    responses = GalleryResponseSerializer(many=True)
    marked_at = serializers.DateTimeField()
