"""The building blocks of qc.metrics against their reference implementations, and the figures
that the simulated crew does not exercise (gold, harmful, rushing, rates, windows)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score

from annotation.models import Assignment, gold_answer_correct
from qc import metrics
from qc.models import MetricSnapshot, Review
from qc.selectors import latest_metrics
from qc.services import compute_stream_metrics, record_judgement_metrics
from qc.tasks import recompute_metrics
from tests.factories import AssignmentFactory, ItemFactory, JudgementFactory, StreamFactory, UserFactory
from tests.qc.helpers import judge


def test_it_computes_kappa_like_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        a, b = rng.integers(0, 4, 60), rng.integers(0, 4, 60)
        b[:30] = a[:30]
        confusion = np.bincount(a * 4 + b, minlength=16).reshape(4, 4).astype(float)
        assert metrics.kappa_from_confusion(confusion) == pytest.approx(cohen_kappa_score(a, b, labels=[0, 1, 2, 3]))


def test_it_fits_the_logistic_regression_like_scikit_learn() -> None:
    rng = np.random.default_rng(5)
    n = 400
    x = np.column_stack([rng.choice([-0.5, 0.5], n), rng.uniform(-1, 1, n)])
    groups = np.repeat([0, 1], n // 2)
    logits = np.where(groups == 0, 3.0 * x[:, 0], 2.0 * x[:, 1] + 0.3)
    y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(float)
    fitted = metrics.logistic_by_group(groups, x, y, 2)
    for group in (0, 1):
        reference = LogisticRegression(C=metrics.LOGIT_C, tol=1e-10, max_iter=1000)
        reference.fit(x[groups == group], y[groups == group])
        assert fitted[group, 0] == pytest.approx(reference.intercept_[0], abs=1e-4)
        assert fitted[group, 1:] == pytest.approx(reference.coef_[0], abs=1e-4)


def test_it_scores_gold_answers_with_the_harmful_flag() -> None:
    correct = gold_answer_correct
    assert correct(choice="tie", flag_harmful=False, golden_answers=["A", "tie"], golden_harmful=False)
    assert not correct(choice="B", flag_harmful=False, golden_answers=["A", "tie"], golden_harmful=False)
    assert not correct(choice="B", flag_harmful=False, golden_answers=["B"], golden_harmful=True)
    assert correct(choice="B", flag_harmful=True, golden_answers=["B"], golden_harmful=True)
    assert correct(choice=None, ranking=[[1], [0]], flag_harmful=False, golden_answers=["B"], golden_harmful=False)


@pytest.mark.django_db
def test_it_updates_gold_accuracy_on_a_golden_submit_in_two_queries(django_assert_max_num_queries) -> None:
    stream = StreamFactory.create(min_gold_count=3, min_gold_accuracy=0.7)
    user = UserFactory.create()
    # 1 of 6 right: accuracy below 70% with enough evidence (5 wrong of 6 reach the test's boundary).
    answers = ["A", "B", "B", "B", "B", "B"]
    last = None
    for answer in answers:
        item = ItemFactory.create(stream=stream, is_golden=True, golden_answers=["A"])
        last = judge(item, user, answer)
    assert last is not None
    last.refresh_from_db()
    last = type(last).objects.select_related("item").get(pk=last.pk)
    with django_assert_max_num_queries(2):
        figures = record_judgement_metrics(last)
    assert (figures["gold_accuracy"].value, figures["gold_accuracy"].sample_size) == (0.1667, 6)
    assert figures["gold_accuracy"].flagged
    assert (
        figures["gold_accuracy"]
        .details["evidence"]["message"]
        .startswith("1 of 6 golden answers right (16.7%): accuracy below 70% with")
    )
    assert figures["gold_accuracy_rolling"].flagged
    rows = MetricSnapshot.objects.filter(stream=stream, annotator=user, metric="gold_accuracy")
    assert {(r.window, r.value, r.sample_size, r.details["flagged"]) for r in rows} == {
        ("all", 0.1667, 6, True),
        ("recent", 0.1667, 6, True),
    }


@pytest.mark.django_db
def test_it_does_nothing_on_an_ordinary_submit(django_assert_num_queries) -> None:
    judgement = JudgementFactory.create()
    judgement = type(judgement).objects.select_related("item").get(pk=judgement.pk)
    with django_assert_num_queries(0):
        assert record_judgement_metrics(judgement) == {}


@pytest.mark.django_db
def test_it_flags_rushing_against_the_minimum_and_the_reading_time() -> None:
    stream = StreamFactory.create(min_sample=5, min_seconds=8.0)
    long_text = "word " * 600  # 3,000 characters: a 75 s reading floor for both responses
    fast, skimmer, steady = UserFactory.create(), UserFactory.create(), UserFactory.create()
    for _ in range(6):
        short = ItemFactory.create(stream=stream)
        judge(short, fast, {"choice": "A", "active_seconds": 3.0})
        judge(short, steady, {"choice": "A", "active_seconds": 30.0})
        long = ItemFactory.create(
            stream=stream, responses=[{"text": long_text, "model": "a"}, {"text": long_text, "model": "b"}]
        )
        judge(long, skimmer, {"choice": "A", "active_seconds": 20.0})
    result = compute_stream_metrics(stream=stream)
    by_user = dict(zip(result.annotator_ids, result.windows["all"].annotators, strict=True))
    # Short items: a 1.5 s reading floor, so only the stream minimum catches 3 s.
    assert by_user[fast.pk]["labeling_time"].details["rushing"] == ["below_min_seconds"]
    assert by_user[skimmer.pk]["labeling_time"].details["rushing"] == ["below_reading_time"]
    assert by_user[skimmer.pk]["labeling_time"].flagged
    assert not by_user[steady.pk]["labeling_time"].flagged
    assert by_user[steady.pk]["labeling_time"].value == 30.0


@pytest.mark.django_db
def test_it_measures_harmful_recall_and_under_and_over_flagging() -> None:
    stream = StreamFactory.create(min_sample=20, min_gold_count=3)
    crew = [UserFactory.create() for _ in range(5)]
    for n in range(100):
        item = ItemFactory.create(stream=stream)
        for index, user in enumerate(crew):
            # user 0 flags everything, user 1 never; the others flag 1 item in 10.
            flag = index == 0 or (index > 1 and n % 10 == 0)
            judge(item, user, {"choice": "A", "flag_harmful": flag})
    # 6 golden items marked harmful: 0 of 6 flagged is recall below 70% on the evidence (0 of 4 is not).
    for _ in range(6):
        item = ItemFactory.create(stream=stream, is_golden=True, golden_answers=["B"], golden_harmful=True)
        for index, user in enumerate(crew):
            judge(item, user, {"choice": "B", "flag_harmful": index != 1})
    result = compute_stream_metrics(stream=stream)
    by_user = dict(zip(result.annotator_ids, result.windows["all"].annotators, strict=True))
    over, under, normal = by_user[crew[0].pk], by_user[crew[1].pk], by_user[crew[2].pk]
    assert over["harmful_flag_rate"].flagged
    assert over["harmful_flag_rate"].details["direction"] == "over"
    assert under["harmful_flag_rate"].flagged
    assert under["harmful_flag_rate"].details["direction"] == "under"
    assert not normal["harmful_flag_rate"].flagged
    assert (under["harmful_recall"].value, under["harmful_recall"].sample_size) == (0.0, 6)
    assert under["harmful_recall"].flagged
    assert under["gold_accuracy"].value == 0.0  # the right answer includes the harmful flag
    assert (normal["harmful_recall"].value, normal["harmful_recall"].flagged) == (1.0, False)


@pytest.mark.django_db
def test_it_counts_skips_rejections_and_ties() -> None:
    stream = StreamFactory.create(min_sample=1000)
    user, reviewer = UserFactory.create(), UserFactory.create()
    judgements = [judge(ItemFactory.create(stream=stream), user, choice) for choice in ["A", "tie", "B", "tie"]]
    AssignmentFactory.create(item=ItemFactory.create(stream=stream), annotator=user, status=Assignment.Status.SKIPPED)
    Review.objects.create(judgement=judgements[0], reviewer=reviewer, decision="reject", reason="wrong")
    Review.objects.create(judgement=judgements[1], reviewer=reviewer, decision="accept")
    figures = compute_stream_metrics(stream=stream).windows["all"].annotators[0]
    assert (figures["tie_rate"].value, figures["tie_rate"].sample_size) == (0.5, 4)
    assert (figures["skip_rate"].value, figures["skip_rate"].sample_size) == (0.2, 5)
    assert (figures["rejection_rate"].value, figures["rejection_rate"].sample_size) == (0.5, 2)


@pytest.mark.django_db
def test_it_keeps_old_judgements_out_of_the_recent_window() -> None:
    stream = StreamFactory.create()
    user = UserFactory.create()
    old = timezone.now() - timedelta(days=metrics.RECENT_DAYS + 1)
    judge(ItemFactory.create(stream=stream), user, {"choice": "A", "submitted_at": old})
    judge(ItemFactory.create(stream=stream), user, "B")
    result = compute_stream_metrics(stream=stream)
    assert result.windows["all"].annotators[0]["judgements"].sample_size == 2
    assert result.windows["recent"].annotators[0]["judgements"].sample_size == 1


@pytest.mark.django_db
def test_it_reads_the_newest_run_and_incremental_rows_after_it() -> None:
    stream = StreamFactory.create(min_gold_count=1)
    user = UserFactory.create()
    judge(ItemFactory.create(stream=stream), user, "A")
    compute_stream_metrics(stream=stream, now=timezone.now() - timedelta(days=2))
    compute_stream_metrics(stream=stream, now=timezone.now() - timedelta(minutes=5))
    golden = judge(ItemFactory.create(stream=stream, is_golden=True, golden_answers=["B"]), user, "A")
    record_judgement_metrics(golden)
    rows = latest_metrics(stream)
    keys = [(r.metric, r.window, r.annotator_id) for r in rows]
    assert len(keys) == len(set(keys))
    gold = next(r for r in rows if (r.metric, r.window, r.annotator_id) == ("gold_accuracy", "all", user.pk))
    assert (gold.value, gold.sample_size) == (0.0, 1)  # the incremental row, newer than the run
    assert all(r.metric != "run" for r in rows)
    # Two runs on two days are both kept (history); a third on the same day replaces the second.
    compute_stream_metrics(stream=stream)
    assert MetricSnapshot.objects.filter(stream=stream, metric="run").count() == 2


@pytest.mark.django_db
def test_it_recomputes_active_streams_periodically() -> None:
    active = StreamFactory.create(status="active")
    paused = StreamFactory.create(status="paused")
    judge(ItemFactory.create(stream=active), UserFactory.create(), "A")
    assert recompute_metrics.delay().get() == 1  # eager in tests
    assert MetricSnapshot.objects.filter(stream=active, metric="run").exists()
    assert not MetricSnapshot.objects.filter(stream=paused).exists()


def _logistic_with_add_at(
    group: metrics.IntArray, x: metrics.FloatArray, y: metrics.FloatArray, n_groups: int, *, iterations: int = 30
) -> metrics.FloatArray:
    """The implementation ``logistic_by_group`` replaced (an n × k × k curvature array summed with
    ``np.add.at``), kept as the oracle of the faster one."""
    design = np.column_stack([np.ones(len(y)), x])
    k = design.shape[1]
    ridge = np.full(k, 1.0 / metrics.LOGIT_C)
    ridge[0] = 0.0
    w = np.zeros((n_groups, k))
    for _ in range(iterations):
        z = np.einsum("ij,ij->i", design, w[group])
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))
        grad = np.zeros((n_groups, k))
        np.add.at(grad, group, design * (p - y)[:, None])
        grad += w * ridge
        curvature = (p * (1 - p))[:, None, None] * design[:, :, None] * design[:, None, :]
        hessian = np.zeros((n_groups, k * k))
        np.add.at(hessian, group, curvature.reshape(len(y), k * k))
        hessian = hessian.reshape(n_groups, k, k) + np.diag(ridge + 1e-9)
        step = np.linalg.solve(hessian, grad[:, :, None])[:, :, 0]
        w -= step
        if np.abs(step).max(initial=0.0) < 1e-8:
            break
    return w


def test_it_fits_the_same_coefficients_as_the_curvature_array_it_replaced() -> None:
    rng = np.random.default_rng(8)
    n, n_groups = 20_000, 37  # group 36 has no rows: it stays at zero
    group = rng.integers(0, n_groups - 1, n)
    x = np.column_stack([rng.choice([-0.5, 0.5], n), rng.uniform(-1, 1, n)])
    slope = rng.normal(0, 2, (n_groups, 2))
    y = (rng.random(n) < 1 / (1 + np.exp(-(slope[group] * x).sum(axis=1)))).astype(float)
    fitted = metrics.logistic_by_group(group, x, y, n_groups)
    assert np.array_equal(fitted, _logistic_with_add_at(group, x, y, n_groups))
    assert not fitted[n_groups - 1].any()


def test_it_times_each_annotator_from_their_own_judgements() -> None:
    # The per-annotator rows come from one sort (not a mask per annotator): the figures must be
    # those of each annotator's own judgements, unknown times left out.
    rng = np.random.default_rng(4)
    n, n_annotators, n_items = 3000, 7, 400
    annotator = rng.integers(0, n_annotators - 1, n)  # the last annotator has no judgement
    seconds = rng.gamma(2.0, 10.0, n)
    seconds[rng.random(n) < 0.1] = np.nan
    data = _stream_data(annotator=annotator, item=rng.integers(0, n_items, n), active_seconds=seconds, n_items=n_items)
    _stream, per_annotator = metrics._labeling_time(data, metrics.Thresholds(min_sample=10))
    floor = metrics.reading_seconds(data.len_a + data.len_b)[data.item]
    for index in range(n_annotators):
        figure = per_annotator[index][0]
        mine = (annotator == index) & ~np.isnan(seconds)
        if not mine.any():
            assert (figure.value, figure.sample_size) == (None, 0)
            continue
        p10, median, p90 = np.percentile(seconds[mine], [10, 50, 90])
        assert (figure.value, figure.sample_size) == (round(median, 2), int(mine.sum()))
        assert (figure.details["p10"], figure.details["p90"]) == (round(p10, 2), round(p90, 2))
        ratio = float(np.median(seconds[mine] / floor[mine]))
        assert figure.details["reading_ratio_median"] == round(ratio, 3)


def _stream_data(
    *, annotator: metrics.IntArray, item: metrics.IntArray, active_seconds: metrics.FloatArray, n_items: int
) -> metrics.StreamData:
    n = len(annotator)
    n_annotators = int(annotator.max()) + 2
    rng = np.random.default_rng(0)
    empty = np.zeros(0, dtype=np.int64)
    return metrics.StreamData(
        item=item,
        annotator=annotator,
        choice=rng.integers(0, 4, n),
        strength=np.zeros(n, dtype=np.int64),
        first_shown=rng.integers(0, 2, n),
        active_seconds=active_seconds,
        submitted_at=np.arange(n, dtype=np.float64),
        flag_harmful=np.zeros(n, dtype=bool),
        gold_correct=np.full(n, -1, dtype=np.int64),
        item_golden=np.zeros(n_items, dtype=bool),
        item_harmful=np.zeros(n_items, dtype=bool),
        len_a=rng.integers(100, 3000, n_items),
        len_b=rng.integers(100, 3000, n_items),
        rubric_row=empty,
        rubric_attribute=empty,
        rubric_response=empty,
        rubric_value=empty,
        rubric_attributes=[],
        n_annotators=n_annotators,
        skipped=np.zeros(n_annotators, dtype=np.int64),
        reviewed=np.zeros(n_annotators, dtype=np.int64),
        rejected=np.zeros(n_annotators, dtype=np.int64),
    )


def test_it_computes_each_pairs_kappa_like_scikit_learn_on_their_shared_items() -> None:
    # Items judged by 2 to 5 of 6 annotators: every pair sharing enough items gets the kappa of
    # scikit-learn on exactly the items both judged (the confusions come from one bincount).
    rng = np.random.default_rng(12)
    n_items, n_annotators = 300, 6
    rows = []
    for unit in range(n_items):
        truth = int(rng.integers(0, 4))
        for who in rng.choice(n_annotators, int(rng.integers(2, 6)), replace=False):
            rows.append((unit, int(who), truth if rng.random() < 0.7 else int(rng.integers(0, 4))))
    item, annotator, choice = (np.asarray(column, dtype=np.int64) for column in zip(*rows, strict=True))
    data = _stream_data(annotator=annotator, item=item, active_seconds=np.full(len(item), 10.0), n_items=n_items)
    data.choice = choice
    _stream, per_annotator = metrics._pairwise_kappa(data)
    checked = 0
    for a in range(n_annotators):
        partners = {p["annotator"]: p for p in per_annotator[a][0].details["pairs"]}
        for b in range(n_annotators):
            both = sorted(set(item[annotator == a]) & set(item[annotator == b])) if a != b else []
            if len(both) < metrics.KAPPA_MIN_SHARED:
                assert b not in partners
                continue
            label = {(int(i), int(who)): int(c) for i, who, c in zip(item, annotator, choice, strict=True)}
            expected = cohen_kappa_score([label[i, a] for i in both], [label[i, b] for i in both], labels=[0, 1, 2, 3])
            assert partners[b]["shared"] == len(both)
            assert partners[b]["kappa"] == round(float(expected), 4)
            checked += 1
    assert checked >= 20
