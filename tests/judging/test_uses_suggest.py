"""Suggest: annotators see the judge's pick, except on a random hold-out; each judgement records
what was shown."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotation import services
from annotation.models import Assignment, Item, Judgement
from judging.uses import held_out, suggestion_for
from tests.annotation.conftest import make_annotator
from tests.factories import ItemFactory, StreamFactory
from tests.judging.uses_helpers import add_verdict, make_judge

pytestmark = pytest.mark.django_db


def split_items(stream: Any, share: float, n: int = 40) -> tuple[list[Any], list[Any]]:
    items = [ItemFactory.create(stream=stream) for _ in range(n)]
    hidden = [i for i in items if held_out(stream_id=stream.pk, item_id=i.pk, share=share)]
    shown = [i for i in items if i not in hidden]
    return shown, hidden


def test_the_hold_out_is_deterministic_and_about_its_share() -> None:
    ids = range(1, 20001)
    picks = [held_out(stream_id=7, item_id=i, share=0.2) for i in ids]
    assert picks == [held_out(stream_id=7, item_id=i, share=0.2) for i in ids]
    assert 0.19 < sum(picks) / len(picks) < 0.21
    other = [held_out(stream_id=8, item_id=i, share=0.2) for i in ids]
    assert picks != other  # another stream, another sample
    assert not any(held_out(stream_id=7, item_id=i, share=0.0) for i in range(100))
    assert all(held_out(stream_id=7, item_id=i, share=1.0) for i in range(100))


def lease(stream: Any, item: Any, annotator: Any, order: list[int]) -> Assignment:
    """A live lease of ``item`` with this display order (counted in the item's claims, as a claim is)."""
    Item.objects.filter(pk=item.pk).update(claim_count=F("claim_count") + 1)
    return Assignment.objects.create(
        item=item,
        stream=stream,
        annotator=annotator,
        display_order=order,
        lease_expires_at=timezone.now() + timedelta(days=1),
    )


def test_it_suggests_only_with_the_use_on_a_consistent_verdict_from_before_the_item_was_served() -> None:
    stream: Any = StreamFactory(overlap=3)
    shown, hidden = split_items(stream, 0.5)
    judge = make_judge(stream, use_suggest=True, suggest_holdout=0.5)
    add_verdict(judge, shown[0], "B")
    add_verdict(judge, hidden[0], "A")
    add_verdict(judge, shown[1], "A", "B")  # inconsistent: nothing to suggest

    def ask(item: Any) -> str | None:
        return suggestion_for(assignment=lease(stream, item, make_annotator(stream), [0, 1]), stream=stream)

    assert ask(shown[0]) == "B"
    assert ask(hidden[0]) == ""
    assert ask(shown[1]) is None
    late = lease(stream, shown[2], make_annotator(stream), [0, 1])
    add_verdict(judge, shown[2], "A", at=late.served_at + timedelta(seconds=5))  # after it was served
    assert suggestion_for(assignment=late, stream=stream) is None
    judge.use_suggest = False
    judge.save()
    assert ask(shown[0]) is None


def test_the_page_shows_the_pick_in_display_terms_and_the_submit_records_it(client: Client) -> None:
    stream: Any = StreamFactory(overlap=3)
    shown, _hidden = split_items(stream, 0.5)
    judge = make_judge(stream, use_suggest=True, suggest_holdout=0.5)
    add_verdict(judge, shown[0], "A")
    alice = make_annotator(stream)
    assignment = lease(stream, shown[0], alice, [1, 0])  # canonical A shown second
    client.force_login(alice)
    page = client.get(reverse("annotation:work", args=[stream.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="judge-suggestion"' in html
    assert "Model judge's pick: <strong>B</strong>" in html
    key = services.lease_token(assignment)
    client.post(reverse("annotation:submit", args=[assignment.pk]), {"token": key, "choice": "B", "strength": "2"})
    judgement = Judgement.objects.get(assignment=assignment)
    assert (judgement.choice, judgement.suggestion) == ("A", "A")  # canonical: B shown = A


def test_a_held_out_item_shows_nothing_and_records_the_hold_out(client: Client) -> None:
    stream: Any = StreamFactory(overlap=3)
    _shown, hidden = split_items(stream, 0.5)
    judge = make_judge(stream, use_suggest=True, suggest_holdout=0.5)
    add_verdict(judge, hidden[0], "A")
    bob = make_annotator(stream)
    assignment = lease(stream, hidden[0], bob, [0, 1])
    client.force_login(bob)
    page = client.get(reverse("annotation:work", args=[stream.pk]))
    assert "judge-suggestion" not in page.content.decode()
    client.post(
        reverse("annotation:submit", args=[assignment.pk]),
        {"token": services.lease_token(assignment), "choice": "A", "strength": "1"},
    )
    assert Judgement.objects.get(assignment=assignment).suggestion == ""


def test_no_judge_records_no_suggestion(client: Client) -> None:
    stream: Any = StreamFactory(overlap=3)
    item = ItemFactory.create(stream=stream)
    carol = make_annotator(stream)
    assignment = lease(stream, item, carol, [0, 1])
    client.force_login(carol)
    assert "judge-suggestion" not in client.get(reverse("annotation:work", args=[stream.pk])).content.decode()
    client.post(
        reverse("annotation:submit", args=[assignment.pk]),
        {"token": services.lease_token(assignment), "choice": "A", "strength": "1"},
    )
    assert Judgement.objects.get(assignment=assignment).suggestion is None


def test_an_api_submit_records_no_suggestion() -> None:
    """The API does not show the pick, so its judgements were not shown one."""
    stream: Any = StreamFactory(overlap=3)
    shown, _hidden = split_items(stream, 0.5)
    add_verdict(make_judge(stream, use_suggest=True, suggest_holdout=0.5), shown[0], "A")
    assignment = lease(stream, shown[0], make_annotator(stream), [0, 1])
    key = services.idempotency_key(assignment_id=assignment.pk, token="t")
    result = services.submit_judgement(
        assignment=assignment, idempotency_key=key, choice="B", source=Judgement.Source.API
    )
    assert result.judgement.suggestion is None
    assert Judgement.objects.get(pk=result.judgement.pk).suggestion is None
