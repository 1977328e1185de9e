from __future__ import annotations

from typing import Any, cast

import pytest

from annotation import services
from projects.models import Membership, Role, Stream, StreamMembership
from tests.factories import ItemFactory, MembershipFactory, StreamFactory, StreamMembershipFactory, UserFactory


def make_annotator(stream: Any, username: str | None = None, status: str = StreamMembership.Status.QUALIFIED) -> Any:
    user = UserFactory(username=username) if username else UserFactory()
    MembershipFactory(project=stream.project, user=user, role=Role.ANNOTATOR)
    StreamMembershipFactory(stream=stream, user=user, status=status)
    return user


def claim_next(**kwargs: Any) -> Any:
    """``services.claim_next`` typed loosely for tests (they assert on None themselves)."""
    return services.claim_next(**kwargs)


@pytest.fixture
def stream(db: None) -> Stream:
    return cast(Stream, StreamFactory(overlap=2, lease_minutes=10))


@pytest.fixture
def annotator(stream: Stream) -> Any:
    return make_annotator(stream, "alice")


@pytest.fixture
def items(stream: Stream) -> list[Any]:
    return [ItemFactory(stream=stream) for _ in range(3)]


__all__ = ["Membership", "make_annotator"]
