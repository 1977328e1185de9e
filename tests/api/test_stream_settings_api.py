"""``GET``/``PATCH /api/streams/<id>/``: every setting of the stream form, validated like the form,
changed through ``projects.services.update_stream`` (PMs only)."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from annotation.models import Item
from projects.forms import StreamForm
from projects.models import Stream
from tests.api.conftest import World
from tests.factories import ItemFactory, StreamMembershipFactory


def url(stream: Stream) -> str:
    return f"/api/streams/{stream.pk}/"


def test_a_pm_reads_every_setting_of_the_stream_form(world: World) -> None:
    body = world.client(world.pm).get(url(world.stream)).json()
    assert set(StreamForm.Meta.fields) <= set(body)
    assert body["min_gold_accuracy"] == world.stream.min_gold_accuracy
    assert body["project"] == world.project.slug
    assert set(StreamForm.Meta.fields) <= set(world.client(world.reviewer).get(url(world.stream)).json())
    # Annotators invited to the stream see it as the list shows it: no QC thresholds.
    StreamMembershipFactory.create(stream=world.stream, user=world.annotator)
    annotator = world.client(world.annotator).get(url(world.stream)).json()
    assert "min_gold_accuracy" not in annotator
    assert annotator["overlap"] == world.stream.overlap


def test_a_pm_changes_settings_and_only_those(world: World) -> None:
    stream = world.stream
    before = Stream.objects.get(pk=stream.pk)
    changes = {
        "overlap": 5,
        "adaptive_overlap": True,
        "adaptive_min_agree": 3,
        "golden_rate": 0.1,
        "review_rate": 0.2,
        "min_gold_accuracy": 0.8,
        "min_gold_count": 20,
        "min_agreement": 0.4,
        "min_seconds": 12.5,
        "lease_minutes": 15,
        "order": "breadth",
        "status": "paused",
        "guidelines": "## New guidelines",
        "rubric": ["verbosity", "helpfulness"],
        "truncated_answers": "block",
    }
    response = world.client(world.pm).patch(url(stream), changes, format="json")
    assert response.status_code == 200, response.content
    stream.refresh_from_db()
    for name, value in changes.items():
        if name != "rubric":
            assert getattr(stream, name) == value, name
            assert response.json()[name] == value
    assert stream.rubric == ["helpfulness", "verbosity"]  # the form's canonical order
    assert (stream.name, stream.slug, stream.priority) == (before.name, before.slug, before.priority)


def test_it_validates_like_the_form_and_saves_nothing_on_error(world: World) -> None:
    stream = world.stream
    api = world.client(world.pm)
    cases: list[tuple[dict[str, Any], str, str]] = [
        (
            {"adaptive_overlap": True, "overlap": 3, "adaptive_min_agree": 4},
            "adaptive_min_agree",
            "more than the overlap",
        ),
        ({"golden_rate": 1.5}, "golden_rate", "less than or equal to 1"),
        ({"overlap": 0}, "overlap", "greater than or equal to 1"),
        ({"overlap": 2.5}, "overlap", "whole number"),
        ({"status": "open"}, "status", "not one of the available choices"),
        ({"min_agreement": -2}, "min_agreement", "greater than or equal to -1"),
        ({"slug": "bad slug!"}, "slug", "valid"),
        ({"rubric": ["taste"]}, "rubric", "not one of the available choices"),
        ({"truncated_answers": "sometimes"}, "truncated_answers", "not one of the available choices"),
        ({"name": ""}, "name", "required"),
        ({"id": 7}, "id", "Read-only."),
        ({"colour": "blue"}, "colour", "Not a stream setting."),
    ]
    for body, field, message in cases:
        response = api.patch(url(stream), body, format="json")
        assert response.status_code == 400, body
        assert field in response.json(), (body, response.json())
        assert message in " ".join(response.json()[field]), (body, response.json())
    unchanged = Stream.objects.get(pk=stream.pk)
    assert (unchanged.overlap, unchanged.golden_rate, unchanged.status) == (
        stream.overlap,
        stream.golden_rate,
        stream.status,
    )
    assert api.patch(url(stream), [1, 2], format="json").status_code == 400


def test_only_a_pm_may_change_settings(world: World, stranger: Any) -> None:
    body = {"overlap": 7}
    assert world.client(world.reviewer).patch(url(world.stream), body, format="json").status_code == 403
    assert world.client(world.annotator).patch(url(world.stream), body, format="json").status_code == 403
    assert world.client(world.outsider).patch(url(world.stream), body, format="json").status_code == 404
    assert world.client(stranger).patch(url(world.stream), body, format="json").status_code == 404
    assert world.client(world.pm).patch(url(world.other_stream), body, format="json").status_code == 404
    assert APIClient().patch(url(world.stream), body, format="json").status_code in (401, 403)
    assert world.client(world.pm).put(url(world.stream), body, format="json").status_code == 405
    assert Stream.objects.get(pk=world.stream.pk).overlap != 7


def test_a_session_pm_changes_the_overlap_and_items_reopen(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    stream = world.stream
    Stream.objects.filter(pk=stream.pk).update(overlap=1)
    item = ItemFactory.create(stream=stream, claim_count=1, is_open=False)
    api = APIClient()
    api.force_login(world.pm)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.patch(url(stream), {"overlap": 2}, format="json")
    assert response.status_code == 200
    assert Item.objects.get(pk=item.pk).is_open  # the overlap hook ran (projects.services.update_stream)


def test_a_pm_sets_the_multi_axis_settings(world: World) -> None:
    stream = world.stream
    changes = {
        "task_kind": "attribute_pairwise",
        "attributes": ["correctness", "instruction following", "style"],
        "justification_min_words": 5,
        "harm_categories": ["violence"],
    }
    response = world.client(world.pm).patch(url(stream), changes, format="json")
    assert response.status_code == 200, response.content
    stream.refresh_from_db()
    assert stream.attributes == ["correctness", "instruction following", "style"]
    assert stream.justification_min_words == 5
    assert stream.harm_categories == ["violence"]
    assert response.json()["attributes"] == changes["attributes"]


def test_bad_multi_axis_settings_are_400_naming_the_field(world: World) -> None:
    client = world.client(world.pm)
    for changes, field, message in [
        ({"task_kind": "attribute_pairwise", "attributes": []}, "attributes", "at least one attribute"),
        ({"attributes": ["style", " "]}, "attributes", "cannot be empty"),
        ({"attributes": ["style", "STYLE"]}, "attributes", "given twice"),
        ({"attributes": "style"}, "attributes", None),
        ({"harm_categories": [1, 2]}, "harm_categories", "must be text"),
        ({"harm_categories": {"a": 1}}, "harm_categories", "list of names"),
        ({"justification_min_words": -3}, "justification_min_words", "greater than or equal to 0"),
    ]:
        response = client.patch(url(world.stream), changes, format="json")
        if message is None:  # a string is one name per line: accepted
            assert response.status_code == 200
            continue
        assert response.status_code == 400, (changes, response.content)
        assert message in " ".join(response.json()[field]), response.json()
    world.stream.refresh_from_db()
    assert world.stream.task_kind == "pairwise"
