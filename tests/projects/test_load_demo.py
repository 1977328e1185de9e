"""``manage.py load_demo``: the demo project, exactly, and nothing new on a second run."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.models import Item
from projects.models import ImportBatch, Membership, Project, Stream, StreamMembership

pytestmark = pytest.mark.django_db

EXPECTED_ITEMS = {
    "selfinstruct": 252,
    "oasst": 188,
    "koala": 156,
    "helpful-base": 129,
    "vicuna": 80,
    "harmlessness": 2307,
}


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def load() -> str:
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def snapshot() -> dict[str, int]:
    models = (User, Project, Stream, Membership, StreamMembership, Item, ImportBatch)
    return {model.__name__: model.objects.count() for model in models}


def test_it_loads_the_demo_with_exact_counts() -> None:
    out = load()
    project = Project.objects.get(slug="alpacaeval-demo")
    assert project.name == "AlpacaEval demo"
    streams = {s.slug: s for s in project.streams.all()}
    assert {slug: Item.objects.filter(stream=s).count() for slug, s in streams.items()} == EXPECTED_ITEMS
    assert streams["harmlessness"].name == "Harmlessness re-annotation"
    assert all(s.status == Stream.Status.ACTIVE and s.guidelines.startswith("## ") for s in streams.values())
    assert Counter(Membership.objects.filter(project=project).values_list("role", flat=True)) == {
        "pm": 1,
        "reviewer": 1,
        "annotator": 4,
    }
    annotators = StreamMembership.objects.filter(user__username__startswith="annotator")
    assert annotators.count() == 4 * 6
    assert StreamMembership.objects.count() == 4 * 6  # PM and reviewer see every stream uninvited
    assert set(annotators.values_list("status", flat=True)) == {"qualified"}
    assert "lines 1255, 1689, 1951, 1953, 2037" in out
    assert "  annotator4   quorum-annotator4    Annotator" in out
    assert authenticate(username="pm", password="quorum-pm") is not None


def test_it_creates_nothing_the_second_time() -> None:
    load()
    before = snapshot()
    out = load()
    assert snapshot() == before
    assert out.count("(already loaded)") == 6
    assert "pm           quorum-pm            Project manager" in out


def test_it_explains_missing_data(settings: Any, tmp_path: Path) -> None:
    settings.QUORUM_SHARED_DATA_DIR = tmp_path
    with pytest.raises(CommandError, match="Demo data not found"):
        load()
    assert not Project.objects.exists()
