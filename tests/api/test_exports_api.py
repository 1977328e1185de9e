from __future__ import annotations

import json
from typing import Any

import pytest

from exports.models import Export
from tests.api.conftest import World
from tests.factories import ItemFactory
from tests.qc.helpers import judged_item

pytestmark = pytest.mark.django_db


def _lines(response: Any) -> list[dict[str, Any]]:
    body = b"".join(response.streaming_content).decode()
    return [json.loads(line) for line in body.splitlines()]


def test_it_streams_a_streams_export_as_jsonl(world: World) -> None:
    item = judged_item(world.stream, ["B", "B", "A"])
    judged_item(world.stream, ["tie", "tie"])
    response = world.client(world.pm).get(f"/api/streams/{world.stream.pk}/export/", {"format": "trl"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/jsonl")
    assert _lines(response) == [
        {
            "prompt": item.context[0]["content"],
            "chosen": item.responses[1]["text"],
            "rejected": item.responses[0]["text"],
            "confidence": pytest.approx(2 / 3, abs=1e-6),
            "margin": pytest.approx(1 / 3, abs=1e-6),
        }
    ]
    bare = world.client(world.pm).get(
        f"/api/streams/{world.stream.pk}/export/", {"format": "trl", "confidence": "false", "margin": "false"}
    )
    assert set(_lines(bare)[0]) == {"prompt", "chosen", "rejected"}


def test_it_takes_export_options_as_query_parameters(world: World) -> None:
    judged_item(world.stream, ["B", "B", "A"])
    client = world.client(world.pm)
    url = f"/api/streams/{world.stream.pk}/export/"
    rows = _lines(client.get(url, {"format": "kto", "aggregate": "unanimous"}))
    assert rows == []
    rows = _lines(client.get(url, {"format": "kto", "aggregate": "majority", "min_judgements": "3"}))
    assert [r["label"] for r in rows] == [True, False]
    assert client.get(url, {"format": "csv"}).status_code == 400
    assert client.get(url, {"min_agreement": "2"}).status_code == 400
    assert client.get(url, {"since_export": "999"}).status_code == 400


def test_it_refuses_the_stream_export_to_outsiders_and_annotators(world: World) -> None:
    url = f"/api/streams/{world.stream.pk}/export/"
    assert world.client(world.outsider).get(url).status_code == 404
    assert world.client(world.annotator).get(url).status_code == 403
    assert world.client(world.reviewer).get(url).status_code == 403


def test_it_creates_runs_and_serves_an_export(world: World, django_capture_on_commit_callbacks: Any) -> None:
    judged_item(world.stream, ["A", "A"])
    judged_item(world.stream, ["B", "B"])
    client = world.client(world.pm)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/exports/",
            {"streams": [world.stream.pk], "format": "trl-conversational", "test_fraction": 0.5, "seed": 1},
            format="json",
        )
    assert response.status_code == 202
    export = Export.objects.get(pk=response.json()["id"])
    assert export.status == Export.Status.DONE
    detail = client.get(f"/api/exports/{export.pk}/").json()
    assert detail["status"] == "done"
    assert detail["counts"]["pairs"]["kept"] == 2
    urls = {f["name"]: f["url"] for f in detail["files"]}
    assert set(urls) - {"README.md"} <= {"train.jsonl", "test.jsonl"}
    card = client.get(urls["README.md"])
    assert card["Content-Type"].startswith("text/markdown")
    assert b"## How to load it" in b"".join(card.streaming_content)
    body = b"".join(client.get(urls["train.jsonl"]).streaming_content)
    assert body.count(b"\n") == detail["counts"]["rows"].get("train", 0)
    manifest = client.get(f"/api/exports/{export.pk}/files/manifest.json")
    assert json.loads(b"".join(manifest.streaming_content))["export_id"] == export.pk
    assert client.get(f"/api/exports/{export.pk}/files/exported-items.bin").status_code == 404
    assert client.get(f"/api/exports/{export.pk}/files/..%2F..%2Fsecret").status_code == 404
    assert [e["id"] for e in client.get("/api/exports/").json()["results"]] == [export.pk]


def test_it_keeps_exports_to_their_project(world: World, django_capture_on_commit_callbacks: Any) -> None:
    ItemFactory.create(stream=world.stream)
    with django_capture_on_commit_callbacks(execute=True):
        export_id = (
            world.client(world.pm).post("/api/exports/", {"streams": [world.stream.pk]}, format="json").json()["id"]
        )
    outsider = world.client(world.outsider)
    assert outsider.get(f"/api/exports/{export_id}/").status_code == 404
    assert outsider.get(f"/api/exports/{export_id}/files/train.jsonl").status_code == 404
    assert outsider.get("/api/exports/").json()["results"] == []
    assert world.client(world.annotator).get(f"/api/exports/{export_id}/").status_code == 403
    # Nor can one export mix in another project's stream, or one the caller cannot see.
    response = world.client(world.pm).post(
        "/api/exports/", {"streams": [world.stream.pk, world.other_stream.pk]}, format="json"
    )
    assert response.status_code == 404
    assert (
        world.client(world.annotator).post("/api/exports/", {"streams": [world.stream.pk]}, format="json").status_code
        == 403
    )


def test_it_validates_export_creation(world: World) -> None:
    client = world.client(world.pm)
    assert client.post("/api/exports/", {"streams": []}, format="json").status_code == 400
    assert (
        client.post("/api/exports/", {"streams": [world.stream.pk], "aggregate": "x"}, format="json").status_code == 400
    )


@pytest.mark.parametrize(
    ("options", "files"),
    [
        ({"format": "openrlhf", "licence": "CC-BY-4.0"}, {"train.jsonl"}),
        ({"format": "llama-factory"}, {"train.jsonl", "dataset_info.json"}),
        ({"format": "rewardbench", "test_fraction": 0.9, "seed": 1}, {"test.jsonl"}),
        ({"format": "helpsteer"}, {"train.jsonl"}),
        ({"format": "safe-rlhf"}, {"train.jsonl"}),
        ({"format": "trl", "file_format": "parquet", "ties": "both-orders"}, {"train.parquet"}),
    ],
    ids=lambda v: "-".join(str(v.get(k, "")) for k in ("format", "file_format")) if isinstance(v, dict) else "",
)
def test_it_makes_every_new_format_through_the_api(
    world: World, django_capture_on_commit_callbacks: Any, options: dict[str, Any], files: set[str]
) -> None:
    for _ in range(3):
        judged_item(world.stream, ["A", "A", "B"])
    client = world.client(world.pm)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/exports/", {"streams": [world.stream.pk], **options}, format="json")
    assert response.status_code == 202, response.json()
    detail = client.get(f"/api/exports/{response.json()['id']}/").json()
    assert detail["status"] == "done", detail["error"]
    assert detail["format"] == options["format"]
    assert {f["name"] for f in detail["files"]} == files | {"README.md"}
    assert all(f["url"] for f in detail["files"])
    assert detail["manifest"]["licence"] == options.get("licence")


def test_it_refuses_a_rewardbench_export_without_a_held_out_split(world: World) -> None:
    response = world.client(world.pm).post(
        "/api/exports/", {"streams": [world.stream.pk], "format": "rewardbench"}, format="json"
    )
    assert response.status_code == 400
    assert "held-out" in response.json()["detail"]
