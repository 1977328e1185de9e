"""A test that a trivial strategy passes is flagged: on the test page, after a save, and in the
output of ``import_qualification`` (the factory's response B is the longer one)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from projects.models import Role
from qualification import selectors
from tests.factories import ItemFactory, MembershipFactory, StreamFactory, UserFactory
from tests.qualification.helpers import make_test

pytestmark = pytest.mark.django_db


@pytest.fixture
def stream() -> Any:
    return StreamFactory(slug="german")


@pytest.fixture
def pm(stream: Any) -> Any:
    user = UserFactory()
    MembershipFactory(project=stream.project, user=user, role=Role.PM)
    return user


def test_the_check_scores_the_tests_pairwise_questions(stream: Any) -> None:
    test = make_test(stream, answers=[["B"], ["B"], ["A"], ["B", "tie"]], pass_mark=0.7, shuffle_responses=False)
    check = selectors.strategy_check(test)
    assert check.questions == 4
    assert check.scores["longer"] == 0.75
    assert check.scores["first_shown"] == 0.25  # a fixed order: A is shown first
    assert check.warnings == [
        "always the longer response scores 75% ≥ pass mark 70%",
        "always the response shown second scores 75% ≥ pass mark 70%",
        "always response B scores 75% ≥ pass mark 70%",
    ]


def test_the_page_warns_and_a_save_says_so(client: Client, stream: Any, pm: Any) -> None:
    make_test(stream, answers=[["B"], ["B"], ["A"]], pass_mark=0.6)
    client.force_login(pm)
    page = client.get(reverse("qualification:qualification_test", args=[stream.pk])).content.decode()
    assert "This test does not test much" in page
    assert "always the longer response scores 66.7% ≥ pass mark 60%" in page
    item = ItemFactory(stream=stream, external_id="extra")
    response = client.post(
        reverse("qualification:question_add", args=[stream.pk]),
        {"external_id": "extra", "answers": ["B"], "explanation": ""},
        follow=True,
    )
    assert item.pk
    text = response.content.decode()
    assert "The test can be passed without reading: always the longer response scores 75% ≥ pass mark 60%." in text


def test_a_balanced_test_gets_no_warning(client: Client, stream: Any, pm: Any) -> None:
    make_test(stream, answers=[["B"], ["A"]], pass_mark=0.6)
    client.force_login(pm)
    page = client.get(reverse("qualification:qualification_test", args=[stream.pk])).content.decode()
    assert "does not test much" not in page
    assert "No trivial strategy reaches the pass mark (60%) on its 2 pairwise questions." in page


def test_import_qualification_prints_the_scores_and_the_warning(tmp_path: Path, stream: Any, settings: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    lines = [
        {"id": f"q{n}", "prompt": f"Question {n}?", "responses": ["No.", "Yes, because of reasons."], "answers": "B"}
        for n in range(4)
    ]
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = io.StringIO()
    call_command("import_qualification", "--stream", "german", str(path), "--pass-mark", "80", stdout=out)
    text = out.getvalue()
    assert "Trivial strategies on 4 questions: longer 100%, shorter 0%, first_shown 50%" in text
    assert (
        "Warning: the test can be passed without reading: always the longer response scores 100% ≥ pass mark 80%."
        in text
    )
    assert "always response B scores 100% ≥ pass mark 80%" in text
