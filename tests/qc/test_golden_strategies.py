"""A golden set that a trivial strategy passes (gold accuracy at or above the pause threshold
without reading) is flagged on the golden page and after each change (the factory's response B
is the longer one)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from projects.models import Role
from qc import golden
from tests.factories import ItemFactory, MembershipFactory, StreamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stream() -> Any:
    return StreamFactory(min_gold_accuracy=0.7)


@pytest.fixture
def pm(stream: Any) -> Any:
    user = UserFactory()
    MembershipFactory(project=stream.project, user=user, role=Role.PM)
    return user


def test_the_check_holds_the_golden_set_against_the_pause_threshold(stream: Any) -> None:
    for answers in (["B"], ["B"], ["B"], ["A"]):
        ItemFactory(stream=stream, is_golden=True, golden_answers=answers)
    ItemFactory(stream=stream)  # not golden: not scored
    ItemFactory(stream=stream, is_golden=True, golden_answers=["A"], pool="qualification")  # not a work item
    check = golden.strategy_check(stream)
    assert check.questions == 4
    assert check.scores["first_shown"] == 0.5  # golden items are always shown in a random order
    assert check.warnings == [
        "always the longer response scores 75% ≥ pause threshold 70%",
        "always response B scores 75% ≥ pause threshold 70%",
    ]


def test_the_golden_page_and_each_change_warn(client: Client, stream: Any, pm: Any) -> None:
    ItemFactory(stream=stream, is_golden=True, golden_answers=["B"])
    client.force_login(pm)
    page = client.get(reverse("qc:golden_set", args=[stream.pk])).content.decode()
    assert "This golden set does not test much" in page
    assert "always the longer response scores 100% ≥ pause threshold 70%" in page
    other = ItemFactory(stream=stream)
    response = client.post(
        reverse("qc:golden_item", args=[stream.pk, other.pk]), {"answers": ["A"], "explanation": ""}, follow=True
    )
    text = response.content.decode()
    assert "does not test much" not in text  # one A, one B: every strategy at 50%
    assert "No trivial strategy reaches the pause threshold (70%)" in text
    ItemFactory(stream=stream, prior_label={"choice": 1, "source": "judge"})
    response = client.post(reverse("qc:golden_from_prior", args=[stream.pk]), {"limit": 5}, follow=True)
    assert (
        "The golden set can be passed without reading: always the longer response scores 66.7% ≥ pause threshold 70%"
        not in response.content.decode()
    )
    ItemFactory(stream=stream, prior_label={"choice": 1, "source": "judge"})
    response = client.post(reverse("qc:golden_from_prior", args=[stream.pk]), {"limit": 5}, follow=True)
    assert (
        "The golden set can be passed without reading: always the longer response scores 75% ≥ pause threshold 70%."
        in response.content.decode()
    )


def test_import_items_with_golden_answers_prints_the_check(tmp_path: Any, settings: Any) -> None:
    import io
    import json

    from django.core.management import call_command

    settings.MEDIA_ROOT = tmp_path / "media"
    StreamFactory(slug="gold", min_gold_accuracy=0.7)
    lines = [
        {
            "id": f"g{n}",
            "prompt": f"Q{n}?",
            "responses": ["No.", "Yes, with the reasons why."],
            "golden": {"answers": ["B"]},
        }
        for n in range(3)
    ]
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = io.StringIO()
    call_command("import_items", "--stream", "gold", str(path), stdout=out)
    text = out.getvalue()
    assert "Golden set: Trivial strategies on 3 questions: longer 100%, shorter 0%" in text
    assert (
        "Warning: the golden set can be passed without reading: always the longer response scores 100% "
        "≥ pause threshold 70%." in text
    )
