"""A model judge never counts as a person: a stream's human figures, progress, review queue,
charts, judgement API and export are exactly the same with the judge's judgements as without."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client, override_settings
from django.utils import timezone

from annotation import selectors as annotation_selectors
from annotation import services as annotation_services
from annotation.models import Item, Judgement
from dynamic.demo_model import JUDGE_MODEL, Behaviour
from exports import services as exporting
from judging import services as judging
from judging.models import Verdict
from projects.models import Role, Stream
from qc import charts, golden, review
from qc import selectors as qc_selectors
from qc import services as qc_services
from qc.models import Alert, MetricSnapshot, ReviewTask
from qc.tasks import compute_stream_metrics_task
from tests.annotation.conftest import make_annotator
from tests.factories import AssignmentFactory, JudgementFactory, StreamFactory
from tests.judging.helpers import items
from tests.model_servers import endpoint, model_server
from tests.projects.web_helpers import member

pytestmark = pytest.mark.django_db


def _people_at_work(stream: Stream) -> list[Any]:
    """Three annotators judge every work item through the assignment engine (their choices
    mostly agree); two golden items get a human answer each."""
    rng = random.Random(7)
    people = [make_annotator(stream, name) for name in ("ann", "bob", "cat")]
    for person in people:
        while (assignment := annotation_services.claim_next(stream=stream, annotator=person)) is not None:
            choice = "A" if rng.random() < 0.8 else rng.choice(["B", "tie"])
            annotation_services.submit_judgement(
                assignment=assignment,
                idempotency_key=f"{person.pk}-{assignment.pk}",
                choice=choice,
                active_seconds=rng.uniform(5, 40),
            )
    for item, person, choice in zip(Item.objects.filter(stream=stream, is_golden=True), people, "AB", strict=False):
        JudgementFactory(assignment=AssignmentFactory(item=item, annotator=person), choice=choice)
    return people


def _everything_a_person_is_measured_by(stream: Stream, people: list[Any], client: Client, now: Any) -> dict[str, Any]:
    cache.clear()  # stream progress is cached for a minute
    result = qc_services.compute_stream_metrics(stream=stream, now=now)
    compute_stream_metrics_task(stream.pk)  # figures, then the QC rules (alerts, pauses)
    progress = annotation_selectors.stream_progress(stream)
    spec = exporting.ExportSpec(stream_ids=(stream.pk,), format="raw", include_golden=True)
    stats = exporting.Stats()
    rows = list(exporting.iter_rows(spec, exporting.Snapshot.take(), stats))
    trl_stats = exporting.Stats()
    trl = list(exporting.iter_rows(exporting.ExportSpec(stream_ids=(stream.pk,)), exporting.Snapshot.take(), trl_stats))
    api = client.get(f"/api/streams/{stream.pk}/judgements/").json()
    return {
        "annotators": result.annotator_ids,
        # The judge's own figures (stream figures named judge_*, qc.judge_quality) are its, not
        # the people's: everything else must be the same with and without it.
        "figures": repr(
            {
                window: ({k: v for k, v in f.stream.items() if not k.startswith("judge_")}, f.annotators)
                for window, f in result.windows.items()
            }
        ),
        "snapshots": list(
            MetricSnapshot.objects.filter(stream=stream, computed_at=now)
            .exclude(metric=qc_services.RUN_METRIC)  # its value is the time the run took
            .exclude(metric__startswith="judge_")
            .order_by("annotator_id", "window", "metric")
            .values_list("annotator_id", "window", "metric", "value", "sample_size")
        ),
        "alerts": list(Alert.objects.filter(stream=stream).values_list("annotator_id", "kind")),
        "progress": progress,
        "forecast": annotation_selectors.stream_forecast(stream, progress, now=now),
        "mine": [annotation_selectors.annotator_progress(stream=stream, annotator=p, now=now) for p in people],
        "items": sorted(
            Item.objects.filter(stream=stream).values_list(
                "pk", "claim_count", "judgement_count", "is_open", "first_agreed"
            )
        ),
        "review_tasks": sorted(ReviewTask.objects.filter(stream=stream).values_list("judgement_id", "reason", "done")),
        "review_queue": review.queue_counts(stream),
        "throughput": qc_selectors.throughput(stream, now=now),
        "per_day": charts.throughput_per_day(stream, now=now),
        "time_histogram": charts.labeling_time_histogram(stream),
        "disagreed": [(d.item.pk, d.counts) for d in golden.most_disagreed(stream=stream)],
        "export_raw": rows,
        "export_raw_stats": stats.to_json(),
        "export_trl": trl,
        "export_trl_stats": trl_stats.to_json(),
        "api": [(j["id"], j.get("choice")) for j in api["results"]],
    }


def test_a_judges_judgements_change_no_human_figure_progress_queue_or_export() -> None:
    stream = StreamFactory.create(
        status=Stream.Status.ACTIVE, overlap=3, golden_rate=0.0, review_rate=0.3, min_sample=2
    )
    items(stream, 8)
    items(stream, 4, longer_first=False)
    items(stream, 2, is_golden=True, golden_answers=["A"])
    people = _people_at_work(stream)
    pm = member(stream.project, Role.PM)
    client = Client()
    client.force_login(pm)
    now = timezone.now().replace(microsecond=0) + timedelta(minutes=1)
    # The QC rules act once on the people's work (a pause takes judgements out of the count):
    # let them, so that "before" and "after" differ only by the judge.
    compute_stream_metrics_task(stream.pk)
    before = _everything_a_person_is_measured_by(stream, people, client, now)
    assert before["export_trl"], "the export has pairs"
    assert before["review_tasks"], "the review sample has tasks"

    with (
        model_server(Behaviour(token_delay=0, judge="longer")) as server,
        override_settings(QUORUM_JUDGE_BACKOFF_MS=10),
    ):
        judge = judging.attach_judge(stream=stream, endpoint=endpoint(stream.project, server.url, model=JUDGE_MODEL))
        started, _ = judging.start_run(judge=judge)
        judging.run_judge(run_id=started.pk)
    assert Verdict.objects.filter(judge=judge, status=Verdict.Status.CONSISTENT).count() == 14
    assert Judgement.objects.filter(source=Judgement.Source.MODEL).count() == 14

    MetricSnapshot.objects.filter(stream=stream, computed_at=now).delete()
    after = _everything_a_person_is_measured_by(stream, people, client, now)
    assert judge.user_id not in after["annotators"]
    for key in before:
        assert after[key] == before[key], key
