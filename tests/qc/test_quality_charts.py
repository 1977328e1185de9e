"""The Quality page's charts (qc/charts.py, templates/qc/_quality_charts.html) and its annotator
table: the intervals, the data passed through json_script, the tables beside each chart, rule
names in words, no inline script, and the page's query count."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from scipy.stats import binomtest

from projects.models import Role, Stream
from qc import charts
from qc.models import Alert, MetricSnapshot
from qc.rules import RULE_LABELS
from qc.services import compute_stream_metrics
from qc.templatetags.qc_tags import rule_label
from tests.annotation.conftest import make_annotator
from tests.factories import ItemFactory, JudgementFactory, MembershipFactory, StreamFactory, UserFactory

pytestmark = pytest.mark.django_db


# --- Intervals -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (11, 12, 0.6461, 0.9851), (10, 10, 0.7225, 1.0)],
)
def test_wilson_matches_the_textbook_interval(k: int, n: int, low: float, high: float) -> None:
    bounds = charts.wilson(k, n)
    assert bounds is not None
    assert bounds == pytest.approx((low, high), abs=1e-4)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [(0, 10, 0.0, 0.3085), (5, 10, 0.1871, 0.8129), (10, 10, 0.6915, 1.0)],
)
def test_clopper_pearson_matches_the_exact_interval(k: int, n: int, low: float, high: float) -> None:
    bounds = charts.clopper_pearson(k, n)
    assert bounds is not None
    assert bounds == pytest.approx((low, high), abs=1e-4)


@pytest.mark.parametrize(("k", "n"), [(35, 87), (1, 3), (299, 524)])
def test_clopper_pearson_agrees_with_scipys_binomial_test(k: int, n: int) -> None:
    expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert charts.clopper_pearson(k, n) == pytest.approx((expected.low, expected.high), abs=1e-9)


def test_no_interval_without_a_sample() -> None:
    assert charts.wilson(0, 0) is None
    assert charts.clopper_pearson(0, 0) is None


# --- Series ------------------------------------------------------------------------------------------
def test_history_thins_to_at_most_sixty_points_and_keeps_the_newest() -> None:
    stream: Any = StreamFactory()
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    MetricSnapshot.objects.bulk_create(
        MetricSnapshot(
            stream=stream,
            metric="gold_accuracy",
            value=0.5 + i / 1000,
            sample_size=i + 1,
            computed_at=now - timedelta(minutes=200 - i),
        )
        for i in range(200)
    )
    points = charts.history(stream, now=now)["stream"]["gold_accuracy"]
    assert 2 <= len(points) <= charts.MAX_POINTS
    assert points[-1]["n"] == 200  # the newest figure is always drawn
    assert [p["t"] for p in points] == sorted(p["t"] for p in points)
    assert all(p["lo"] <= p["v"] <= p["hi"] for p in points)


def test_history_leaves_out_snapshots_older_than_thirty_days() -> None:
    stream: Any = StreamFactory()
    now = datetime(2026, 6, 1, tzinfo=UTC)
    for days in (40, 2):
        MetricSnapshot.objects.create(
            stream=stream, metric="alpha_nominal", value=0.4, sample_size=10, computed_at=now - timedelta(days=days)
        )
    assert len(charts.history(stream, now=now)["stream"]["alpha_nominal"]) == 1


def test_throughput_counts_each_day_and_fills_days_without_work() -> None:
    stream: Any = StreamFactory()
    now = datetime(2026, 6, 10, 15, tzinfo=UTC)
    for ago, count in ((3, 2), (1, 1)):
        for _ in range(count):
            JudgementFactory(
                assignment__stream=stream, assignment__item__stream=stream, submitted_at=now - timedelta(days=ago)
            )
    days = charts.throughput_per_day(stream, now=now)
    assert [(d["day"], d["n"]) for d in days] == [
        ("2026-06-07", 2),
        ("2026-06-08", 0),
        ("2026-06-09", 1),
        ("2026-06-10", 0),
    ]


def test_the_labeling_time_histogram_puts_each_judgement_in_one_bin() -> None:
    stream: Any = StreamFactory()
    for seconds in (1, 4.9, 5, 59, 700):
        JudgementFactory(assignment__stream=stream, assignment__item__stream=stream, active_seconds=seconds)
    bins = {b["bin"]: b["n"] for b in charts.labeling_time_histogram(stream)}
    assert bins["0–5 s"] == 2
    assert bins["5–10 s"] == 1
    assert bins["45–60 s"] == 1
    assert bins["≥ 600 s"] == 1
    assert sum(bins.values()) == 5


def test_the_page_shows_the_labeling_times_the_last_qc_run_counted() -> None:
    """The Quality page shows its figures as of the last QC run; the histogram too, read from the
    run's row instead of a scan of every judgement per view (a million-judgement program)."""
    from qc import selectors

    stream: Any = StreamFactory.create()
    for seconds in (1, 7, 700):
        JudgementFactory.create(assignment__stream=stream, assignment__item__stream=stream, active_seconds=seconds)
    compute_stream_metrics(stream=stream)
    run = selectors.last_run(stream)
    assert run is not None
    assert run[1]["time_histogram"] == charts.labeling_time_counts(stream)
    JudgementFactory.create(assignment__stream=stream, assignment__item__stream=stream, active_seconds=2)
    shown = charts.quality_charts(stream, [], run_details=run[1])["time_histogram"]
    assert {b["bin"]: b["n"] for b in shown}["0–5 s"] == 1  # as of the run
    live = charts.quality_charts(stream, [], run_details=None)["time_histogram"]
    assert {b["bin"]: b["n"] for b in live}["0–5 s"] == 2  # never computed: counted now


# --- The page ------------------------------------------------------------------------------------------
@pytest.fixture
def world() -> dict[str, Any]:
    stream: Any = StreamFactory(status=Stream.Status.ACTIVE, min_sample=2, min_gold_count=1)
    pm = UserFactory(username="boss")
    MembershipFactory(project=stream.project, user=pm, role=Role.PM)
    people = [make_annotator(stream, name) for name in ("alice", "bob", "carol")]
    golden = ItemFactory(stream=stream, is_golden=True, golden_answers=["B"])
    for person in people:
        JudgementFactory(assignment__item=golden, assignment__annotator=person, choice="B", active_seconds=30)
    for _ in range(4):
        item = ItemFactory(stream=stream, responses=[{"text": "short"}, {"text": "a much longer answer " * 20}])
        for person in people:
            JudgementFactory(
                assignment__item=item, assignment__annotator=person, choice="B", display_order=[1, 0], active_seconds=12
            )
    compute_stream_metrics(stream=stream)
    Alert.objects.create(stream=stream, annotator=people[0], kind="agreement_low", message="Low agreement.")
    Alert.objects.create(stream=stream, annotator=people[1], kind="brand_new_rule", message="Something new.")
    return {"stream": stream, "pm": pm, "people": people}


def _page(client: Client, world: dict[str, Any]) -> Any:
    client.force_login(world["pm"])
    response = client.get(reverse("qc:stream_qc", args=[world["stream"].pk]))
    assert response.status_code == 200
    return response


def test_the_charts_data_reaches_the_page_through_json_script(client: Client, world: dict[str, Any]) -> None:
    response = _page(client, world)
    html = response.content.decode()
    found = re.search(r'<script id="quality-charts" type="application/json">(.*?)</script>', html, re.S)
    assert found is not None
    data = json.loads(found.group(1))
    assert set(data) >= {"history", "throughput", "time_histogram", "gold_now", "bias"}
    assert [r["name"] for r in data["gold_now"]] == ["alice", "bob", "carol"]
    assert all(r["k"] == 1 and r["n"] == 1 for r in data["gold_now"])
    assert data["gold_now"][0]["lo"] == pytest.approx(charts.wilson(1, 1)[0], abs=1e-4)  # type: ignore[index]
    # Everyone picked the response shown first on the 4 items shown in order [1, 0] (choice B), not
    # on the golden item (shown in file order, choice B: the second shown).
    position = data["bias"]["position_bias"]
    assert {r["name"]: (r["k"], r["n"]) for r in position} == {"alice": (4, 5), "bob": (4, 5), "carol": (4, 5)}
    assert sum(b["n"] for b in data["time_histogram"]) == 15
    assert len(data["history"]["stream"]["gold_accuracy"]) == 1


def test_every_chart_has_its_table_and_the_page_has_no_inline_script(client: Client, world: dict[str, Any]) -> None:
    html = _page(client, world).content.decode()
    charts_in_page = re.findall(r'data-chart="([a-z-]+)"', html)
    assert len(charts_in_page) == 7
    assert html.count('<details class="chart-table">') == 7
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert "vendor/chartjs/chart.umd.min.js" in html
    assert "Table: position bias" in html


def test_rule_names_are_words_and_the_legend_points_at_no_file(client: Client, world: dict[str, Any]) -> None:
    html = _page(client, world).content.decode()
    assert escape(RULE_LABELS["agreement_low"]) in html
    assert "agreement_low" not in html
    assert "Brand new rule" in html  # no label yet: the key in words
    assert "docs/qc.md" not in html
    assert "What the columns mean" in html


def test_rule_label_falls_back_to_the_key_in_words() -> None:
    assert rule_label("gold_accuracy_low") == RULE_LABELS["gold_accuracy_low"]
    assert rule_label("some_future_rule") == "Some future rule"


def test_the_annotator_table_is_grouped_and_sortable(client: Client, world: dict[str, Any]) -> None:
    html = _page(client, world).content.decode()
    widths = {"Accuracy": 4, "Speed": 2, "Answers": 3, "Bias": 3, "Harmful": 2, "Flags": 2}
    for group, width in widths.items():
        assert f'<th scope="colgroup" colspan="{width}">{group}</th>' in html
    assert "data-sortable" in html
    assert 'data-sort-type="num"' in html


def test_the_quality_page_costs_a_fixed_number_of_queries(
    client: Client, world: dict[str, Any], django_assert_num_queries: Any
) -> None:
    client.force_login(world["pm"])
    url = reverse("qc:stream_qc", args=[world["stream"].pk])
    client.get(url)  # warm the session and the progress cache
    # The session, the user, the stream and the role, the snapshots (2), memberships, alerts,
    # progress, throughput, the chart queries (2: the labeling-time histogram is the last run's),
    # review counts, the last run, golden and simulated counts, the periodic jobs, the stream's model
    # judge, the reviewers (3: reviews given, double reviews, peer reviewers), the calibration
    # rounds, the annotators' names (one query for every snapshot row's): none per annotator.
    with django_assert_num_queries(24):
        assert client.get(url).status_code == 200
    for _ in range(5):  # more annotators, same count
        person = make_annotator(world["stream"])
        stream = world["stream"]
        JudgementFactory(assignment__stream=stream, assignment__item__stream=stream, assignment__annotator=person)
    compute_stream_metrics(stream=world["stream"])
    with django_assert_num_queries(24):
        assert client.get(url).status_code == 200


def test_the_annotator_page_costs_a_fixed_number_of_queries_and_pages_its_judgements(
    client: Client, world: dict[str, Any], django_assert_num_queries: Any
) -> None:
    stream, alice = world["stream"], world["people"][0]
    client.force_login(world["pm"])
    url = reverse("qc:annotator_qc", args=[stream.pk, alice.pk])
    client.get(url)
    # Session, user, stream, role, the annotator (3), figures (2), alerts, count, a page of
    # judgements, their reviews, peer-review eligibility (4: role, membership, counts, open
    # alerts): none per judgement.
    with django_assert_num_queries(17):
        first = client.get(url)
    assert first.status_code == 200
    for _ in range(60):
        JudgementFactory(assignment__stream=stream, assignment__item__stream=stream, assignment__annotator=alice)
    with django_assert_num_queries(17):
        page = client.get(url)
    html = page.content.decode()
    assert html.count("<time datetime=") >= 50
    assert "Page 1 of 2" in html
    older = client.get(url + "?page=2").content.decode()
    assert "Page 2 of 2" in older
    assert "chose the response shown first (B in the file)" in older  # the world's first judgements, as alice saw them


def test_the_golden_page_lists_the_most_disagreed_items_the_last_qc_run_kept() -> None:
    """The golden page's candidates come from the QC run's row (a grouped scan of every judgement
    per view was half a second on a million-judgement program); items made golden since drop out."""
    from qc import golden, selectors

    stream: Any = StreamFactory.create()
    split, agreed = ItemFactory.create(stream=stream), ItemFactory.create(stream=stream)
    for item, choices in ((split, ["A", "B"]), (agreed, ["A", "A"])):
        for choice in choices:
            JudgementFactory.create(assignment__stream=stream, assignment__item=item, choice=choice)
        type(item).objects.filter(pk=item.pk).update(judgement_count=2, claim_count=2)
    compute_stream_metrics(stream=stream)
    run = selectors.last_run(stream)
    assert run is not None
    stored = run[1]["disagreed"]
    assert [row[0] for row in stored] == [split.pk, agreed.pk]
    assert [d.item for d in golden.most_disagreed(stream=stream, stored=stored)] == [split, agreed]
    assert golden.most_disagreed(stream=stream, stored=stored) == golden.most_disagreed(stream=stream)
    golden.set_golden(item=split, answers=["A"], explanation="", harmful=False)
    assert [d.item for d in golden.most_disagreed(stream=stream, stored=stored)] == [agreed]


def test_the_page_carries_the_latest_points_and_the_endpoint_a_whole_series(client: Client) -> None:
    """Everyone's whole series on the page was half a megabyte for a stream of 75 annotators: the
    page carries each person's latest points and the chart's first person in full; the chart
    fetches anyone else's whole series from ``qc:annotator_history``."""
    stream: Any = StreamFactory.create()
    pm = UserFactory.create()
    MembershipFactory.create(project=stream.project, user=pm, role=Role.PM)
    people = [make_annotator(stream, name) for name in ("ada", "bea")]
    now = datetime.now(UTC)
    for person in people:
        for k in range(charts.RECENT_POINTS + 3):
            MetricSnapshot.objects.create(
                stream=stream, annotator=person, metric="gold_accuracy", value=0.5, sample_size=10 + k,
                details={"correct": 5}, computed_at=now - timedelta(hours=10 - k),
            )  # fmt: skip
    client.force_login(pm)
    data = client.get(reverse("qc:stream_qc", args=[stream.pk])).context["charts"]["history"]
    assert [len(a["gold_accuracy"]) for a in data["annotators"]] == [charts.RECENT_POINTS] * 2
    assert data["annotator_start"]["index"] == 0
    assert len(data["annotator_start"]["gold_accuracy"]) == charts.RECENT_POINTS + 3
    url = data["annotators"][1]["url"]
    assert url == reverse("qc:annotator_history", args=[stream.pk, people[1].pk])
    whole = client.get(url).json()
    assert [p["n"] for p in whole["gold_accuracy"]] == list(range(10, 10 + charts.RECENT_POINTS + 3))
    assert client.get(reverse("qc:annotator_history", args=[stream.pk, pm.pk])).status_code == 404
