"""Admin for export runs."""

from __future__ import annotations

from django.contrib import admin

from exports.models import Export


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin[Export]):
    list_display = ["id", "project", "format", "aggregation", "status", "progress", "created_at", "finished_at"]
    list_filter = ["status", "format"]
    raw_id_fields = ["project", "created_by", "since_export"]
    filter_horizontal = ["streams"]
