"""The hand-written reads of the hot path (``selectors.stream_with_standing``,
``assignment_with_standing``) agree with the ORM definition they replace (``streams_with_standing``)."""

from __future__ import annotations

from typing import Any

import pytest

from annotation import selectors
from annotation.models import Item
from projects.models import StreamMembership
from qualification.models import QualificationQuestion, QualificationTest
from tests.annotation.conftest import make_annotator
from tests.factories import AssignmentFactory, ItemFactory, StreamFactory, UserFactory

pytestmark = pytest.mark.django_db


def _standing(stream: Any) -> tuple[Any, Any, bool]:
    return stream.role, stream.standing, stream.has_test


@pytest.mark.parametrize("with_test", [False, True])
@pytest.mark.parametrize("status", [s.value for s in StreamMembership.Status])
def test_it_reads_the_standing_as_the_orm_does(status: str, with_test: bool) -> None:
    stream: Any = StreamFactory()
    if with_test:
        test = QualificationTest.objects.create(stream=stream)
        question: Any = ItemFactory(stream=stream, pool=Item.Pool.QUALIFICATION)
        QualificationQuestion.objects.create(test=test, item=question, acceptable_answers=["A"])
    user = make_annotator(stream, status=status)
    expected = selectors.streams_with_standing(user).get(pk=stream.pk)
    found = selectors.stream_with_standing(user, stream.pk)
    assert found is not None
    assert _standing(found) == _standing(expected)
    assert found.project == stream.project
    assert found.has_test is with_test

    assignment: Any = AssignmentFactory(item=ItemFactory(stream=stream), stream=stream, annotator=user)
    mine = selectors.assignment_with_standing(user, assignment.pk)
    assert mine is not None
    assert mine.item == assignment.item
    assert mine.item.responses == assignment.item.responses
    assert mine.served_at == assignment.served_at
    assert mine.display_order == assignment.display_order
    assert _standing(mine.stream) == _standing(expected)


def test_outsiders_and_other_peoples_assignments_read_as_nothing() -> None:
    stream: Any = StreamFactory()
    alice = make_annotator(stream)
    outsider = UserFactory()
    found = selectors.stream_with_standing(outsider, stream.pk)
    assert found is not None
    assert found.role is None
    assert found.standing is None
    assert selectors.stream_with_standing(alice, stream.pk + 1000) is None
    assignment: Any = AssignmentFactory(item=ItemFactory(stream=stream), stream=stream, annotator=alice)
    assert selectors.assignment_with_standing(outsider, assignment.pk) is None
