"""``manage.py qc_report`` and ``GET /api/streams/<id>/metrics/``: one document, two doors."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from projects.models import Role, Stream
from qc.models import MetricSnapshot
from qc.services import compute_stream_metrics
from tests.factories import MembershipFactory, StreamFactory
from tests.qc import simulation

pytestmark = pytest.mark.django_db


def _stream() -> Stream:
    stream = StreamFactory.create(overlap=5)
    items = simulation.make_items(stream, 60, golden=10)
    simulation.judge_all(
        stream,
        items,
        {
            "lefty": simulation.left,
            "ann": simulation.careful,
            "bea": simulation.careful,
            "cy": simulation.careful,
            "dee": simulation.careful,
        },
    )
    return stream


def _run(*args: str) -> str:
    out = StringIO()
    call_command("qc_report", *args, stdout=out)
    return out.getvalue()


def test_it_prints_every_figure_with_sample_size_and_flag() -> None:
    stream = _stream()
    text = _run("--stream", f"{stream.project.slug}/{stream.slug}", "--recompute")
    assert "STREAM" in text
    assert "ANNOTATOR lefty  — flagged: " in text
    assert "position_bias" in text.split("ANNOTATOR lefty")[1].split("\n")[0]
    assert "ANNOTATOR ann\n" in text  # careful: no flags
    assert "(n=" in text
    assert "flagged: yes" in text
    assert "flagged: no" in text


def test_it_prints_json_with_fixed_names() -> None:
    stream = _stream()
    report = json.loads(_run("--stream", str(stream.pk), "--json", "--recompute"))
    assert report["stream"] == {
        "id": stream.pk,
        "project": stream.project.slug,
        "slug": stream.slug,
        "name": stream.name,
    }
    assert report["thresholds"]["min_sample"] == stream.min_sample
    assert report["recent_days"] == 7
    flagged = {entry["annotator"]: entry["metrics"] for entry in report["flagged_annotators"]}
    assert {"position_bias", "straightlining", "agreement", "gold_accuracy"} <= set(flagged["lefty"])
    assert "ann" not in flagged
    entry = next(
        r for r in report["results"] if (r["annotator"], r["metric"], r["window"]) == ("lefty", "position_bias", "all")
    )
    assert set(entry) == {
        "scope",
        "annotator",
        "annotator_id",
        "metric",
        "window",
        "value",
        "sample_size",
        "flagged",
        "details",
        "computed_at",
    }
    assert (entry["scope"], entry["value"], entry["sample_size"], entry["flagged"]) == ("annotator", 1.0, 70, True)
    stream_metrics = {r["metric"] for r in report["results"] if r["scope"] == "stream" and r["window"] == "all"}
    assert {"alpha_nominal", "alpha_ordinal", "alpha_interval", "agreement", "cohen_kappa", "gold_accuracy"} <= (
        stream_metrics
    )


def test_it_says_when_nothing_was_computed_and_refuses_unknown_streams() -> None:
    stream = StreamFactory.create()
    assert "No figures computed yet" in _run("--stream", str(stream.pk))
    with pytest.raises(CommandError):
        _run("--stream", "no-such-stream")


def test_it_serves_the_same_document_over_the_api() -> None:
    stream = _stream()
    compute_stream_metrics(stream=stream)
    pm = MembershipFactory.create(project=stream.project, role=Role.PM).user
    client = APIClient()
    client.force_authenticate(pm)
    response = client.get(f"/api/streams/{stream.pk}/metrics/")
    assert response.status_code == 200
    assert response.json() == json.loads(_run("--stream", str(stream.pk), "--json"))
    lefty = response.json()["results"][-1]["annotator_id"]
    filtered = client.get(
        f"/api/streams/{stream.pk}/metrics/", {"metric": "position_bias", "window": "all", "annotator": lefty}
    ).json()["results"]
    assert len(filtered) == 1
    outsider = MembershipFactory.create(role=Role.PM).user
    client.force_authenticate(outsider)
    assert client.get(f"/api/streams/{stream.pk}/metrics/").status_code == 404


def test_it_stores_one_run_of_snapshots_per_figure() -> None:
    stream = _stream()
    compute_stream_metrics(stream=stream)
    rows = MetricSnapshot.objects.filter(stream=stream).exclude(metric="run")
    assert len({r.computed_at for r in rows}) == 1
    keys = [(r.metric, r.window, r.annotator_id) for r in rows]
    assert len(keys) == len(set(keys))
    kappa = rows.get(metric="cohen_kappa", window="all", annotator__username="lefty")
    partners = {pair["annotator"] for pair in kappa.details["pairs"]}
    assert partners == set(
        rows.filter(metric="judgements", window="all")
        .exclude(annotator=None)
        .exclude(annotator=kappa.annotator)
        .values_list("annotator_id", flat=True)
    )
    position = rows.get(metric="position_bias", window="all", annotator__username="lefty")
    assert position.details["flagged"] is True
    assert position.details["p_value"] < 0.01
