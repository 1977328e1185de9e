"""Escalate: an item whose first n annotators agree but whose judge disagrees collects up to the
full overlap, whichever comes first, the verdict or the n-th human answer."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from annotation.models import Item, ItemEscalation
from projects.models import Role
from tests.annotation.conftest import claim_next, make_annotator
from tests.annotation.test_adaptive_overlap import adaptive_stream, counts
from tests.annotation.test_exclusion import work
from tests.factories import ItemFactory, MembershipFactory, UserFactory
from tests.judging.uses_helpers import add_verdict, make_judge

pytestmark = pytest.mark.django_db


def two_agree(stream: Any, item: Item, choice: str = "A") -> None:
    for _ in range(2):
        work(stream, make_annotator(stream), choice)


def test_it_escalates_when_the_verdict_came_first() -> None:
    stream = adaptive_stream(overlap=4, n=2)
    item = ItemFactory.create(stream=stream)
    add_verdict(make_judge(stream, use_escalate=True), item, "B")
    two_agree(stream, item, "A")
    assert counts(item) == (2, 2, True, False)  # re-opened: collects up to 4
    escalation = ItemEscalation.objects.get(item=item)
    assert (escalation.by, escalation.agreed_answer, escalation.other_answer) == ("judge", "A", "B")
    assert "first 2 annotators all chose response A" in escalation.reason
    third = make_annotator(stream)
    assert claim_next(stream=stream, annotator=third) is not None  # another annotator gets it


def test_it_escalates_when_the_verdict_comes_after_the_item_stopped(
    django_capture_on_commit_callbacks: Any,
) -> None:
    stream = adaptive_stream(overlap=4, n=2)
    item = ItemFactory.create(stream=stream)
    judge = make_judge(stream, use_escalate=True)
    two_agree(stream, item, "A")
    assert counts(item) == (2, 2, False, True)  # stopped early
    assert claim_next(stream=stream, annotator=make_annotator(stream)) is None
    with django_capture_on_commit_callbacks(execute=True):
        add_verdict(judge, item, "tie")
    assert counts(item) == (2, 2, True, False)
    assert ItemEscalation.objects.get(item=item).other_answer == "tie"
    assignment = claim_next(stream=stream, annotator=make_annotator(stream))
    assert assignment is not None
    assert assignment.item_id == item.pk


def test_an_escalated_item_fills_to_the_overlap_and_closes(django_capture_on_commit_callbacks: Any) -> None:
    stream = adaptive_stream(overlap=4, n=2)
    item = ItemFactory.create(stream=stream)
    add_verdict(make_judge(stream, use_escalate=True), item, "B")
    for _ in range(4):
        work(stream, make_annotator(stream), "A")
    assert counts(item) == (4, 4, False, False)
    assert claim_next(stream=stream, annotator=make_annotator(stream)) is None


@pytest.mark.parametrize(
    ("uses", "verdict"),
    [
        ({"use_escalate": True}, ("A", "A")),  # the judge agrees
        ({"use_escalate": True}, ("B", "A")),  # inconsistent across the swap: no verdict to go by
        ({}, ("B", "B")),  # the use is off (the default)
    ],
)
def test_it_does_not_escalate(
    uses: dict[str, bool], verdict: tuple[str, str], django_capture_on_commit_callbacks: Any
) -> None:
    stream = adaptive_stream(overlap=4, n=2)
    item = ItemFactory.create(stream=stream)
    with django_capture_on_commit_callbacks(execute=True):
        add_verdict(make_judge(stream, **uses), item, *verdict)
    two_agree(stream, item, "A")
    assert counts(item) == (2, 2, False, True)
    assert not ItemEscalation.objects.exists()


def test_a_disagreement_among_people_is_not_an_escalation() -> None:
    stream = adaptive_stream(overlap=4, n=2)
    item = ItemFactory.create(stream=stream)
    add_verdict(make_judge(stream, use_escalate=True), item, "B")
    work(stream, make_annotator(stream), "A")
    work(stream, make_annotator(stream), "B")
    assert counts(item) == (2, 2, True, False)
    assert not ItemEscalation.objects.exists()  # the people disagreed: adaptive overlap's own rule


def test_turning_the_use_on_reopens_items_it_contradicts(django_capture_on_commit_callbacks: Any) -> None:
    stream = adaptive_stream(overlap=3, n=2)
    contradicted, confirmed = ItemFactory.create(stream=stream), ItemFactory.create(stream=stream)
    judge = make_judge(stream)
    add_verdict(judge, contradicted, "B")
    add_verdict(judge, confirmed, "A")
    for _ in range(2):
        annotator = make_annotator(stream)
        work(stream, annotator, "A")
        work(stream, annotator, "A")
    assert counts(contradicted)[2:] == (False, True)
    with django_capture_on_commit_callbacks(execute=True):
        judge.use_escalate = True
        judge.save()
    assert counts(contradicted)[2:] == (True, False)
    assert counts(confirmed)[2:] == (False, True)


def test_the_item_page_says_why_it_was_escalated(client: Any) -> None:
    stream = adaptive_stream(overlap=4, n=2)
    item = ItemFactory.create(stream=stream)
    add_verdict(make_judge(stream, use_escalate=True), item, "B")
    two_agree(stream, item, "A")
    pm = UserFactory.create()
    MembershipFactory(project=stream.project, user=pm, role=Role.PM)
    client.force_login(pm)
    html = client.get(reverse("annotation:item_detail", args=[stream.pk, item.pk])).content.decode()
    assert 'id="escalation"' in html
    assert "the model judge chose response B in both display orders" in html
    assert "Model judge" in html  # the judge's own judgement, labelled
