"""API shapes of export runs and their options."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from exports import services as exporting
from exports.models import Export


class ExportOptionsSerializer(serializers.Serializer[Any]):
    """The same choices as ``export_preferences`` and the export page."""

    format = serializers.ChoiceField(choices=exporting.FORMATS, default="trl")
    aggregate = serializers.ChoiceField(choices=exporting.AGGREGATIONS, default="majority")
    min_agreement = serializers.FloatField(min_value=0.0, max_value=1.0, default=0.0)
    min_judgements = serializers.IntegerField(min_value=1, max_value=1000, default=1)
    include_golden = serializers.BooleanField(default=False)
    include_inactive_annotators = serializers.BooleanField(default=False)
    include_flagged = serializers.BooleanField(default=False)
    include_rejected = serializers.BooleanField(default=False)
    exclude_model_judgements = serializers.BooleanField(
        default=False, help_text="Leave the model judge's verdicts out of Dawid–Skene even where its vote use is on."
    )
    submitted_from = serializers.DateTimeField(required=False, allow_null=True, default=None)
    submitted_to = serializers.DateTimeField(required=False, allow_null=True, default=None)
    since_export = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1)
    test_fraction = serializers.FloatField(min_value=0.0, max_value=0.99, default=0.0)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)
    margin = serializers.BooleanField(
        default=True, help_text="A margin column on every pair row: (2 × confidence − 1) × strength."
    )
    min_confidence = serializers.FloatField(
        min_value=0.0,
        max_value=1.0,
        required=False,
        allow_null=True,
        default=None,
        help_text="Drop pairs less sure than this (vote share or posterior); null: each stream's own minimum.",
    )
    confidence = serializers.BooleanField(
        default=True, help_text="A confidence column on every pair row (vote share or posterior)."
    )
    ties = serializers.ChoiceField(
        choices=exporting.TIES, default="drop", help_text="Tied comparisons: drop, or both orders with margin 0."
    )
    licence = serializers.CharField(max_length=200, default="", allow_blank=True)
    file_format = serializers.ChoiceField(choices=exporting.FILE_FORMATS, default="jsonl")

    def to_spec(self, stream_ids: tuple[int, ...]) -> exporting.ExportSpec:
        data = self.validated_data
        return exporting.ExportSpec(
            stream_ids=stream_ids,
            format=data["format"],
            aggregation=data["aggregate"],
            min_agreement=data["min_agreement"],
            min_judgements=data["min_judgements"],
            include_golden=data["include_golden"],
            exclude_inactive_annotators=not data["include_inactive_annotators"],
            exclude_flagged=not data["include_flagged"],
            exclude_rejected=not data["include_rejected"],
            exclude_model_judgements=data["exclude_model_judgements"],
            submitted_from=data["submitted_from"],
            submitted_to=data["submitted_to"],
            since_export_id=data["since_export"],
            test_fraction=data["test_fraction"],
            seed=data["seed"],
            margin=data["margin"],
            min_confidence=data["min_confidence"],
            confidence=data["confidence"],
            ties=data["ties"],
            licence=data["licence"],
            file_format=data["file_format"],
        )


class ExportCreateSerializer(ExportOptionsSerializer):
    streams = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=100, help_text="Stream ids."
    )


class ExportFileSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    rows = serializers.IntegerField()
    sha256 = serializers.CharField()
    url = serializers.CharField(allow_null=True)


class ExportSerializer(serializers.ModelSerializer[Export]):
    project: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    streams: Any = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    files = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = [
            "id",
            "project",
            "streams",
            "format",
            "aggregation",
            "filters",
            "status",
            "progress",
            "counts",
            "manifest",
            "files",
            "since_export",
            "error",
            "attempts",
            "heartbeat_at",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ExportFileSerializer(many=True))
    def get_files(self, export: Export) -> list[dict[str, Any]]:
        from django.urls import reverse

        return ExportFileSerializer(
            [
                {
                    "name": f["name"],
                    "rows": f.get("rows", 0),
                    "sha256": f.get("sha256", ""),
                    "url": reverse("api-export-file", args=[export.pk, f["name"]])
                    if exporting.export_file_path(export, f["name"])
                    else None,
                }
                for f in export.files
                if f.get("role") in ("data", "meta")
            ],
            many=True,
        ).data  # type: ignore[return-value]
