"""Exports record the guideline versions: each raw row its judgement's ``guideline_version``, the
manifest the versions the exported judgements were made under (numbers, dates, counts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exports import services as exporting
from projects import services as project_services
from tests.factories import ItemFactory, ProjectFactory, UserFactory
from tests.qc.helpers import judge, read_jsonl

pytestmark = pytest.mark.django_db


def test_raw_rows_and_the_manifest_carry_the_guideline_versions(tmp_path: Path) -> None:
    stream = project_services.create_stream(project=ProjectFactory.create(), slug="chat", name="Chat", guidelines="v1")
    early, late, legacy = (ItemFactory.create(stream=stream) for _ in range(3))
    judge(early, UserFactory.create(), {"choice": "A", "guideline_version": 1})
    judge(legacy, UserFactory.create(), {"choice": "B", "guideline_version": None})
    project_services.update_stream(stream=stream, guidelines="v2", change_note="Clearer ties")
    for _ in range(2):
        judge(late, UserFactory.create(), {"choice": "A", "guideline_version": 2})

    manifest = exporting.write_export(exporting.ExportSpec(stream_ids=(stream.pk,), format="raw"), tmp_path)
    rows = read_jsonl(tmp_path / "train.jsonl")
    by_item = {(row["item_id"], row["guideline_version"]) for row in rows}
    assert by_item == {(early.pk, 1), (late.pk, 2), (legacy.pk, None)}

    versions = manifest["guideline_versions"]["chat"]
    assert [(v["number"], v["judgements"]) for v in versions] == [(None, 1), (1, 1), (2, 2)]
    assert versions[2]["change_note"] == "Clearer ties"
    assert versions[2]["created_at"] is not None
    assert versions[0]["created_at"] is None  # made before versions were recorded
    on_disk = (tmp_path / "manifest.json").read_text()
    assert '"guideline_versions"' in on_disk


def test_a_pair_export_manifest_counts_the_versions_of_the_judgements_it_read(tmp_path: Path) -> None:
    stream = project_services.create_stream(project=ProjectFactory.create(), slug="chat", name="Chat", guidelines="v1")
    item = ItemFactory.create(stream=stream)
    for _ in range(3):
        judge(item, UserFactory.create(), {"choice": "A", "guideline_version": 1})
    manifest = exporting.write_export(exporting.ExportSpec(stream_ids=(stream.pk,)), tmp_path)
    assert [(v["number"], v["judgements"]) for v in manifest["guideline_versions"]["chat"]] == [(1, 3)]
