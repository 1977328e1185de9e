"""The API answers like the pages: an annotator sees only the streams they are invited to,
reviewers review blind (no annotator id), and a 404 never tells "exists in another project" from
"does not exist"."""

from __future__ import annotations

from typing import Any

import pytest

from exports.models import Export
from projects.models import StreamMembership
from tests.api.conftest import World
from tests.factories import ItemFactory, StreamFactory, StreamMembershipFactory
from tests.qc.helpers import judged_item

pytestmark = pytest.mark.django_db


def test_an_annotator_lists_and_reads_only_the_streams_they_are_invited_to(world: World) -> None:
    invited = world.stream
    not_invited = StreamFactory.create(project=world.project)
    removed = StreamFactory.create(project=world.project)
    StreamMembershipFactory.create(stream=invited, user=world.annotator)
    StreamMembershipFactory.create(stream=removed, user=world.annotator, status=StreamMembership.Status.REMOVED)
    client = world.client(world.annotator)
    assert [s["id"] for s in client.get("/api/streams/").json()["results"]] == [invited.pk]
    assert client.get(f"/api/streams/{invited.pk}/").status_code == 200
    for hidden in (not_invited, removed):
        response = client.get(f"/api/streams/{hidden.pk}/")
        assert response.status_code == 404
        assert response.json() == {"detail": "No such stream."}


@pytest.mark.parametrize("role", ["pm", "reviewer"])
def test_pms_and_reviewers_see_every_stream_of_their_project(world: World, role: str) -> None:
    second = StreamFactory.create(project=world.project)
    client = world.client(getattr(world, role))
    assert [s["id"] for s in client.get("/api/streams/").json()["results"]] == [world.stream.pk, second.pk]
    assert client.get(f"/api/streams/{second.pk}/").status_code == 200


def test_reviewers_get_judgements_without_the_annotator(world: World) -> None:
    judged_item(world.stream, ["A", "B"])
    url = f"/api/streams/{world.stream.pk}/judgements/"
    reviewer_rows = world.client(world.reviewer).get(url).json()["results"]
    pm_rows = world.client(world.pm).get(url).json()["results"]
    assert len(reviewer_rows) == len(pm_rows) == 2
    assert all("annotator" not in row for row in reviewer_rows)
    assert all(isinstance(row["annotator"], int) for row in pm_rows)
    # ...nor can they sort judgements by annotator through the filter.
    response = world.client(world.reviewer).get(url, {"annotator": pm_rows[0]["annotator"]})
    assert response.status_code == 403
    assert "reviews are blind" in response.json()["detail"]
    assert len(world.client(world.pm).get(url, {"annotator": pm_rows[0]["annotator"]}).json()["results"]) == 1


def _missing_and_foreign(world: World) -> list[tuple[str, str]]:
    """(URL of an object in another project, URL of an id that does not exist) for every API path
    that takes an id."""
    foreign_stream, missing = world.other_stream.pk, world.other_stream.pk + 10_000
    foreign_item = ItemFactory.create(stream=world.other_stream).pk
    own_stream = world.stream.pk
    foreign_export = Export.objects.create(project=world.other_stream.project).pk
    missing_export = foreign_export + 10_000
    pairs = [
        (f"/api/streams/{foreign_stream}/", f"/api/streams/{missing}/"),
        (f"/api/streams/{foreign_stream}/items/", f"/api/streams/{missing}/items/"),
        (f"/api/streams/{foreign_stream}/judgements/", f"/api/streams/{missing}/judgements/"),
        (f"/api/streams/{foreign_stream}/metrics/", f"/api/streams/{missing}/metrics/"),
        (f"/api/streams/{foreign_stream}/next/", f"/api/streams/{missing}/next/"),
        (
            f"/api/streams/{own_stream}/items/{foreign_item}/",
            f"/api/streams/{own_stream}/items/{foreign_item + 10_000}/",
        ),
        (f"/api/exports/{foreign_export}/", f"/api/exports/{missing_export}/"),
        (f"/api/exports/{foreign_export}/files/x.jsonl", f"/api/exports/{missing_export}/files/x.jsonl"),
        (f"/api/projects/{world.other_stream.project.slug}/", "/api/projects/no-such-project/"),
    ]
    return pairs


@pytest.mark.parametrize("role", ["annotator", "reviewer", "pm"])
def test_a_foreign_id_and_a_missing_id_get_the_same_answer(world: World, role: str) -> None:
    client = world.client(getattr(world, role))
    compared = 0
    for foreign, missing in _missing_and_foreign(world):
        if role == "annotator" and "/items/" in foreign and foreign.count("/") > 5:
            continue  # an annotator is refused items in their own stream (403) before the lookup
        got: list[Any] = []
        for url in (foreign, missing):
            response = client.get(url)
            got.append((response.status_code, response.content))
        assert got[0] == got[1], (foreign, got)
        assert got[0][0] == 404
        compared += 1
    post = (f"/api/streams/{world.other_stream.pk}/export/", f"/api/streams/{world.other_stream.pk + 10_000}/export/")
    answers = [(r.status_code, r.content) for r in (client.post(url, {}, format="json") for url in post)]
    assert answers[0] == answers[1]
    assert compared >= 8
