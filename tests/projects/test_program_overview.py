"""The project page as the program's dashboard (issue 16, part 4): one row per stream with its
purpose, items done / total, the last QC computation's figures with their evidence flags, the
active annotators and the throughput. Figures checked against a fixture computed by hand."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from annotation.models import Judgement
from projects.models import Role, Stream
from qc import metrics
from qc.models import Alert, MetricSnapshot
from qc.services import _flag_summary
from tests.factories import ItemFactory, JudgementFactory, StreamFactory, UserFactory
from tests.projects.web_helpers import annotator_in, member, project_with_pm

pytestmark = pytest.mark.django_db


def _judge(item: Any, user: Any, *, ago: timedelta, **fields: Any) -> Judgement:
    at = timezone.now() - ago
    return JudgementFactory.create(
        assignment__item=item, assignment__annotator=user, assignment__served_at=at, submitted_at=at, **fields
    )


def _row(body: str, stream: Stream) -> str:
    match = re.search(rf'<tr id="overview-{stream.pk}">(.*?)</tr>', body, re.S)
    assert match, f"no overview row for {stream}"
    return re.sub(r"\s+", " ", match.group(1))


def _snapshot(
    stream: Stream, metric: str, at: Any, value: float | None, n: int, window: str = "all", **details: Any
) -> None:
    MetricSnapshot.objects.create(
        stream=stream, metric=metric, window=window, value=value, sample_size=n, details=details, computed_at=at
    )


def _fixture() -> tuple[Any, Any, Stream, Stream]:
    """Stream "German arithmetic" (overlap 2): 4 work items — two judged twice (done), one once,
    one not at all — and a golden item. u1 judged 3 times an hour ago, u2 twice 30 hours ago, u3
    once 8 days ago, a model judge once an hour ago (never counted, nobody).
    Live, hand-computed: done 2 / 4, 1 golden (no computation stored them); 3 counted judgements
    and 1 person (u1) in the last 24 hours.
    QC: two runs stored; the newer (α 0.41 on 120 values, flagged; gold 83% on 30; 2 annotators
    flagged; 5 judgements by 2 annotators in the recent 7 days → 5 / 7 = 0.7 a day) is the one
    shown; one open alert (another acknowledged)."""
    project, pm = project_with_pm()
    stream = StreamFactory.create(
        project=project,
        name="German arithmetic",
        overlap=2,
        purpose="Weakness: multi-step arithmetic in German",
        purpose_domain="math",
        purpose_language="de",
        purpose_capability="multi-step reasoning",
    )
    quiet = StreamFactory.create(project=project, name="Quiet stream", overlap=3)
    u1, u2, u3 = (annotator_in(stream) for _ in range(3))
    done1, done2, half, _untouched = (ItemFactory.create(stream=stream) for _ in range(4))
    golden = ItemFactory.create(stream=stream, is_golden=True, golden_answers=["A"])
    for item in (done1, done2):
        item.judgement_count = item.claim_count = 2
        item.save()
    half.judgement_count = half.claim_count = 1
    half.save()
    _judge(done1, u1, ago=timedelta(hours=1))
    _judge(done2, u1, ago=timedelta(hours=1))
    _judge(half, u1, ago=timedelta(hours=1))
    _judge(done1, u2, ago=timedelta(hours=30))
    _judge(done2, u2, ago=timedelta(hours=30))
    _judge(golden, u3, ago=timedelta(days=8))
    _judge(half, UserFactory.create(), ago=timedelta(hours=1), source=Judgement.Source.MODEL, counted=False)

    now = timezone.now()
    old, new = now - timedelta(days=1), now - timedelta(minutes=5)
    _snapshot(stream, "run", old, 1.0, 3, flagged_annotators=0, flagged_metrics={})
    _snapshot(stream, "alpha_nominal", old, 0.9, 50, flagged=False)
    _snapshot(stream, "gold_accuracy", old, 0.5, 10, flagged=False)
    _snapshot(stream, "run", new, 1.0, 5, flagged_annotators=2, flagged_metrics={"agreement": 1, "position_bias": 1})
    _snapshot(stream, "alpha_nominal", new, 0.41, 120, flagged=True)
    _snapshot(stream, "gold_accuracy", new, 0.83, 30, flagged=False)
    _snapshot(stream, "judgements", old, 40, 40, window="recent", annotators=5)
    _snapshot(stream, "judgements", new, 5, 5, window="recent", annotators=2)
    Alert.objects.create(stream=stream, kind="position_bias", message="x")
    Alert.objects.create(stream=stream, kind="rushing", message="y", acknowledged_at=now)
    return project, pm, stream, quiet


def test_it_shows_each_streams_purpose_progress_quality_and_activity(client: Client) -> None:
    project, pm, stream, quiet = _fixture()
    client.force_login(pm)
    body = client.get(f"/projects/{project.slug}/").content.decode()
    row = _row(body, stream)
    assert "Weakness: multi-step arithmetic in German" in row
    assert "domain: math" in row
    assert "language: de" in row
    assert "capability: multi-step reasoning" in row
    assert "2 / 4" in row
    assert "50% · 1 golden" in row
    assert "α 0.41" in row
    assert "(n = 120)" in row
    assert "⚑ below 0.5" in row
    assert "Gold 83%" in row
    assert "(n = 30)" in row
    assert "⚑ 2 annotators flagged" in row
    assert "1 open alert" in row
    assert "α 0.90" not in row  # the older run is not shown
    assert "1 / 2" in row  # active in 24 h / 7 days
    assert "0.7" in row
    assert "3 in 24 h" in row
    quiet_row = _row(body, quiet)
    assert "0 / 0" in quiet_row
    assert "Not computed yet" in quiet_row
    assert "Say what it is for" in quiet_row


def test_it_hides_quality_figures_from_reviewers(client: Client) -> None:
    project, _pm, stream, _quiet = _fixture()
    client.force_login(member(project, Role.REVIEWER))
    body = client.get(f"/projects/{project.slug}/").content.decode()
    row = _row(body, stream)
    assert "2 / 4" in row
    assert "Weakness: multi-step arithmetic in German" in row
    assert "α 0.41" not in row
    assert "flagged" not in row


def test_it_shows_annotators_no_overview(client: Client) -> None:
    project, _pm, stream, _quiet = _fixture()
    annotator = stream.stream_memberships.first().user
    client.force_login(annotator)
    body = client.get(f"/projects/{project.slug}/").content.decode()
    assert 'id="program-overview"' not in body
    assert "2 / 4" not in body


def test_it_keeps_the_query_count_flat_in_the_number_of_streams(
    client: Client, django_assert_max_num_queries: Any
) -> None:
    project, pm, _stream, _quiet = _fixture()
    client.force_login(pm)
    client.get(f"/projects/{project.slug}/")  # warm the session
    cache.clear()  # the item counts are cached a minute: measure the cold page
    with django_assert_max_num_queries(14):
        assert client.get(f"/projects/{project.slug}/").status_code == 200
    for n in range(18):
        extra = StreamFactory.create(project=project, name=f"Extra {n}")
        ItemFactory.create(stream=extra)
        _snapshot(extra, "run", timezone.now(), 1.0, 0, flagged_annotators=0)
    cache.clear()
    with django_assert_max_num_queries(14):
        response = client.get(f"/projects/{project.slug}/")
    assert response.content.decode().count('<tr id="overview-') == 20


def test_the_run_row_keeps_how_many_annotators_a_run_flagged() -> None:
    def figure(metric: str, flagged: bool) -> metrics.Figure:
        return metrics.Figure(metric, 0.5, 40, flagged, {})

    figures = metrics.Figures(
        stream={},
        annotators=[
            {"agreement": figure("agreement", True), "position_bias": figure("position_bias", True)},
            {"agreement": figure("agreement", False)},
            {"agreement": figure("agreement", True), "tie_rate": figure("tie_rate", False)},
        ],
    )
    assert _flag_summary(figures) == {"flagged_annotators": 2, "flagged_metrics": {"agreement": 2, "position_bias": 1}}


def test_a_purpose_tag_filters_the_overview(client: Client) -> None:
    project, pm, stream, quiet = _fixture()
    client.force_login(pm)
    body = client.get(f"/projects/{project.slug}/?tag=language:de").content.decode()
    assert f'<tr id="overview-{stream.pk}">' in body
    assert f'<tr id="overview-{quiet.pk}">' not in body
    assert 'href="?tag=language:de"' in body
    body = client.get(f"/projects/{project.slug}/?tag=language:fr").content.decode()
    assert "No stream is tagged" in body


def test_it_reads_items_done_from_the_last_computation(client: Client) -> None:
    """A real QC computation stores the stream's progress and flag count on its run row; the page
    reads them from there (and the live count only for streams never computed)."""
    from qc.services import compute_stream_metrics

    project, pm, stream, _quiet = _fixture()
    compute_stream_metrics(stream=stream)
    run = MetricSnapshot.objects.filter(stream=stream, metric="run").latest("computed_at")
    assert run.details["progress"] == {"items": 4, "complete": 2, "golden": 1}
    assert run.details["flagged_annotators"] == 0
    # Items change after the computation: the page shows what the computation stored.
    ItemFactory.create(stream=stream)
    client.force_login(pm)
    row = _row(client.get(f"/projects/{project.slug}/").content.decode(), stream)
    assert "2 / 4" in row
    assert "No annotator flagged" in row
