"""What the QC room adds to the hooks of the rooms below (``annotation.hooks``, ``projects.hooks``); called once from
``QcConfig.ready()``."""

from __future__ import annotations

from typing import Any

from annotation import hooks as annotation_hooks
from projects import hooks as projects_hooks
from qc import calibration, peer_review, periodic, review, rules, selectors


def _paused_page(*, stream: Any, annotator: Any) -> dict[str, Any]:
    return {"pause": selectors.pause_for(stream=stream, annotator=annotator)}


def _stream_home(*, stream: Any, user: Any, **_: Any) -> dict[str, Any]:
    return {"calibration_pending": calibration.pending_for(stream=stream, user=user)}


def connect() -> None:
    annotation_hooks.judgement_stored.register(review.queue_on_submit)
    annotation_hooks.golden_judged.register(rules.after_golden_submit)
    annotation_hooks.annotator_warning.register(selectors.open_warning)
    annotation_hooks.paused_page_context.register(_paused_page)
    annotation_hooks.stream_home_context.register(peer_review.stream_home_context)
    annotation_hooks.stream_home_context.register(_stream_home)
    projects_hooks.stream_overview.register(selectors.streams_overview)
    # Not a hook: a Celery worker records each run of a scheduled task (the beat's heartbeat).
    periodic.connect_task_signals()
