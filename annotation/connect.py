"""What the annotation room adds to the ground floor's hooks (``projects.hooks``); called once from
``AnnotationConfig.ready()``."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Count, Q

from annotation import selectors, tasks
from annotation.models import ImportBatch, Item
from projects import hooks as projects_hooks


def _sync_open_items_on_commit(stream_id: int) -> None:
    transaction.on_commit(lambda: tasks.sync_open_items.delay(stream_id))


def _stream_page(stream: Any) -> dict[str, Any]:
    """The stream page's item counts, recent imports, progress and estimated finish."""
    counts = Item.objects.filter(stream=stream).aggregate(
        total=Count("id"),
        golden=Count("id", filter=Q(is_golden=True)),
        prior=Count("id", filter=Q(prior_label__isnull=False)),
        qualification=Count("id", filter=Q(pool=Item.Pool.QUALIFICATION)),
    )
    batches = ImportBatch.objects.filter(stream=stream).select_related("created_by")[:10]
    progress = selectors.stream_progress(stream)
    return {
        "counts": counts,
        "batches": batches,
        "progress": progress,
        "forecast": selectors.stream_forecast(stream, progress),
    }


def connect() -> None:
    projects_hooks.stream_overlap_changed.register(_sync_open_items_on_commit)
    projects_hooks.stream_page_context.register(_stream_page)
    projects_hooks.stream_overview.register(selectors.streams_overview)
