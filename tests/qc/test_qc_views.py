"""The QC pages through the test client: QC page, annotator page, golden set, review queue, the
annotator's own quality page; outsiders get 404, lower roles 403, wrong methods 405."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import Item
from projects.models import Role, Stream, StreamMembership
from qc import rules
from qc.models import Alert, Review, ReviewTask
from qc.services import compute_stream_metrics
from tests.annotation.conftest import make_annotator
from tests.factories import ItemFactory, JudgementFactory, MembershipFactory, StreamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> dict[str, Any]:
    stream: Any = StreamFactory(status=Stream.Status.ACTIVE, min_sample=2)
    pm = UserFactory(username="boss")
    MembershipFactory(project=stream.project, user=pm, role=Role.PM)
    reviewer = UserFactory(username="rita")
    MembershipFactory(project=stream.project, user=reviewer, role=Role.REVIEWER)
    alice = make_annotator(stream, "alice")
    golden = ItemFactory(stream=stream, is_golden=True, golden_answers=["B"], golden_explanation="B cites **sources**.")
    JudgementFactory(assignment__item=golden, assignment__annotator=alice, choice="A")
    plain = ItemFactory(stream=stream, prior_label={"choice": 1, "source": "alpacaeval:preference"})
    judgement: Any = JudgementFactory(assignment__item=plain, assignment__annotator=alice, choice="A")
    ReviewTask.objects.create(judgement=judgement, stream=stream, reason=ReviewTask.Reason.SAMPLE)
    compute_stream_metrics(stream=stream)
    return {"stream": stream, "pm": pm, "reviewer": reviewer, "alice": alice, "judgement": judgement, "plain": plain}


def test_it_shows_the_qc_page_to_a_pm_with_sample_sizes(client: Client, world: dict[str, Any]) -> None:
    client.force_login(world["pm"])
    response = client.get(reverse("qc:stream_qc", args=[world["stream"].pk]) + "?sort=gold_accuracy&order=desc")
    assert response.status_code == 200
    assert b"alice" in response.content
    assert b"n=" in response.content
    assert b"Throughput" in response.content


def test_outsiders_get_404_and_annotators_403(client: Client, world: dict[str, Any]) -> None:
    url = reverse("qc:stream_qc", args=[world["stream"].pk])
    client.force_login(UserFactory.create())
    assert client.get(url).status_code == 404
    client.force_login(world["alice"])
    assert client.get(url).status_code == 403
    assert client.get(reverse("qc:review_queue", args=[world["stream"].pk])).status_code == 403


def test_a_pm_pauses_and_resumes_an_annotator_with_a_reason(client: Client, world: dict[str, Any]) -> None:
    stream, alice = world["stream"], world["alice"]
    client.force_login(world["pm"])
    pause = reverse("qc:annotator_pause", args=[stream.pk, alice.pk])
    assert client.get(pause).status_code == 405
    client.post(pause, {"reason": "Spot check"})
    assert StreamMembership.objects.get(stream=stream, user=alice).status == "paused"
    assert client.get(reverse("qc:annotator_qc", args=[stream.pk, alice.pk])).status_code == 200
    client.post(reverse("qc:annotator_resume", args=[stream.pk, alice.pk]), {"reason": "Fine"})
    sm = StreamMembership.objects.get(stream=stream, user=alice)
    assert (sm.status, sm.status_reason) == ("qualified", "Fine")


def test_a_reviewer_rejects_with_a_reason_and_the_annotator_reads_it(client: Client, world: dict[str, Any]) -> None:
    stream = world["stream"]
    client.force_login(world["reviewer"])
    page = client.get(reverse("qc:review_queue", args=[stream.pk]))
    assert page.status_code == 200
    assert b"alice" not in page.content
    task = ReviewTask.objects.get()
    url = reverse("qc:review_submit", args=[stream.pk, task.pk])
    assert client.post(url, {"decision": "reject"}).status_code == 400  # a rejection needs a reason
    client.post(url, {"decision": "reject", "reason": "B answers the question; A does not."})
    assert Review.objects.get().decision == "reject"
    task.refresh_from_db()
    assert task.done
    client.force_login(world["alice"])
    mine = client.get(reverse("qc:my_quality", args=[stream.pk]))
    assert mine.status_code == 200
    assert b"B answers the question" in mine.content
    assert b"B cites <strong>sources</strong>" in mine.content  # the missed golden item, rendered safely


def test_a_pm_makes_items_golden_from_prior_labels_and_by_hand(client: Client, world: dict[str, Any]) -> None:
    stream, plain = world["stream"], world["plain"]
    client.force_login(world["pm"])
    assert client.get(reverse("qc:golden_set", args=[stream.pk])).status_code == 200
    client.post(reverse("qc:golden_from_prior", args=[stream.pk]), {"limit": 5})
    plain.refresh_from_db()
    assert plain.is_golden
    assert plain.golden_answers == ["B"]
    other = ItemFactory(stream=stream)
    url = reverse("qc:golden_item", args=[stream.pk, other.pk])
    assert client.get(url).status_code == 200
    client.post(url, {"answers": ["A", "tie"], "explanation": "Both fine", "harmful": "on"})
    other.refresh_from_db()
    assert (other.is_golden, other.golden_answers, other.golden_harmful) == (True, ["A", "tie"], True)
    client.post(url, {"remove": "1"})
    assert not Item.objects.get(pk=other.pk).is_golden


def test_a_pm_closes_an_alert(client: Client, world: dict[str, Any]) -> None:
    stream, alice = world["stream"], world["alice"]
    alert = Alert.objects.create(stream=stream, annotator=alice, kind=rules.AGREEMENT_RULE, message="low")
    client.force_login(world["pm"])
    client.post(reverse("qc:alert_close", args=[stream.pk, alert.pk]), {"note": "seen"})
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None
    assert alert.details["resolution"] == "seen"


def test_simulated_judgements_are_never_exported(tmp_path: Any) -> None:
    from annotation.models import Judgement
    from exports import services as exporting
    from tests.qc.helpers import judged_item, read_jsonl

    stream: Any = StreamFactory()
    judged_item(stream, ["A", "A"])
    simulated = judged_item(stream, ["B", "B"])
    Judgement.objects.filter(item=simulated).update(source=Judgement.Source.SIMULATED)
    spec = exporting.ExportSpec(stream_ids=(stream.pk,), format="trl")
    exporting.write_export(spec, tmp_path)
    assert len(read_jsonl(tmp_path / "train.jsonl")) == 1


def test_the_metrics_document_lists_annotators_standing_and_open_alerts(world: dict[str, Any]) -> None:
    from rest_framework.test import APIClient

    from projects.models import ApiToken

    stream, alice = world["stream"], world["alice"]
    Alert.objects.create(
        stream=stream, annotator=alice, kind=rules.GOLD_RULE, message="low", details={"sample_size": 10}
    )
    _token, key = ApiToken.generate(user=world["pm"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = client.get(reverse("api-metrics", args=[stream.pk])).json()
    assert {"annotator": "alice", "annotator_id": alice.pk, "status": "qualified"} in body["annotators"]
    assert [(a["kind"], a["annotator"]) for a in body["open_alerts"]] == [(rules.GOLD_RULE, "alice")]
    figure = next(r for r in body["results"] if r["annotator"] == "alice" and r["metric"] == "gold_accuracy")
    assert figure["sample_size"] == 1
    assert figure["flagged"] is False


def test_it_shows_a_fresh_stream_before_any_figures_are_computed() -> None:
    stream: Any = StreamFactory(status=Stream.Status.ACTIVE)
    pm: Any = UserFactory()
    MembershipFactory(project=stream.project, user=pm, role=Role.PM)
    client = Client()
    client.force_login(pm)
    response = client.get(reverse("qc:stream_qc", args=[stream.pk]))
    assert response.status_code == 200
    assert "—" in response.content.decode()
