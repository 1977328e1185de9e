"""What the qualification room adds to the hooks of the rooms below (``annotation.hooks``); called
once from ``QualificationConfig.ready()``."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q

from annotation import hooks as annotation_hooks
from qualification import selectors
from qualification.models import QualificationQuestion, QualificationTest


def _entry_test_exists(stream_ref: Any) -> Exists:
    """An active test with at least one question."""
    return Exists(QualificationQuestion.objects.filter(test__stream=stream_ref, test__is_active=True))


def _entry_test_sql() -> str:
    return (
        f"EXISTS (SELECT 1 FROM {QualificationQuestion._meta.db_table} q "  # noqa: S608 - table names from the models
        f"JOIN {QualificationTest._meta.db_table} t ON t.id = q.test_id WHERE t.stream_id = s.id AND t.is_active)"
    )


def _withheld_q() -> Q:
    """Test questions are never golden items: the annotator may have seen them, with the answer."""
    return Q(Exists(QualificationQuestion.objects.filter(item=OuterRef("pk"))))


def _withheld_sql() -> str:
    return f"EXISTS (SELECT 1 FROM {QualificationQuestion._meta.db_table} q WHERE q.item_id = i.id)"  # noqa: S608


def _stream_home(*, stream: Any, user: Any) -> dict[str, Any]:
    return {"test": selectors.standing_in_test(stream=stream, user=user)}


def connect() -> None:
    annotation_hooks.entry_test_exists.register(_entry_test_exists)
    annotation_hooks.entry_test_sql.register(_entry_test_sql)
    annotation_hooks.golden_withheld_q.register(_withheld_q)
    annotation_hooks.golden_withheld_sql.register(_withheld_sql)
    annotation_hooks.stream_home_context.register(_stream_home)
