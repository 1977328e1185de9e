"""Extension points of the ground floor, filled by the rooms above (``quorum.hooks``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet

from quorum.hooks import Hook

# A stream's overlap or adaptive overlap settings changed (called after the save; the receiver
# defers its work to COMMIT).
# annotation: re-open or close the stream's items.
stream_overlap_changed: Hook[Callable[[int], None]] = Hook("stream_overlap_changed")

# The project page's stream list for PMs and reviewers: each function annotates the queryset.
# annotation: ``item_count``, ``golden_count``.
annotate_streams: Hook[Callable[[QuerySet[Any]], QuerySet[Any]]] = Hook("annotate_streams")

# The stream page for PMs and reviewers: each function returns template context for the stream.
# annotation: item ``counts``, recent import ``batches``, ``progress`` and ``forecast`` (estimated finish).
stream_page_context: Hook[Callable[[Any], dict[str, Any]]] = Hook("stream_page_context")
