"""Integrity figures and the integrity rule: five annotators judge the same 40 items through the
submit service with the page's signals; one copies response text and pastes into the rationale on
40% of items and leaves the page; the careful ones copy now and then. The copy-paster is flagged
with the figures in the sentence, the careful are not, and nobody is paused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse
from scipy import stats

from annotation import services
from projects.models import Role, Stream, StreamMembership
from qc import evidence, rules
from qc.models import Alert, MetricSnapshot
from tests.annotation.conftest import make_annotator
from tests.factories import ItemFactory, MembershipFactory, StreamFactory, UserFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ITEMS = 40


def _signals(*, copy: bool, paste: bool, away: float, first: float) -> dict[str, Any]:
    return {
        "shown_seconds": 60.0,
        "hidden_seconds": away,
        "unfocused_seconds": 0.0,
        "leaves": 1 if away else 0,
        "copy_prompt": 0,
        "copy_prompt_chars": 0,
        "copy_response": 1 if copy else 0,
        "copy_response_chars": 420 if copy else 0,
        "paste_rationale": 1 if paste else 0,
        "paste_rationale_chars": 380 if paste else 0,
        "first_interaction_seconds": first,
    }


def _work(stream: Stream, annotator: Any, signals_for: Any, *, api_items: int = 0) -> None:
    """The annotator judges every item: served at ``now``, submitted 70 s later with the page's
    signals (the first ``api_items`` without any, as an API client would)."""
    now = START
    for index in range(ITEMS):
        assignment = services.claim_next(stream=stream, annotator=annotator, now=now)
        assert assignment is not None
        now += timedelta(seconds=70)
        services.submit_judgement(
            assignment=assignment,
            idempotency_key=services.idempotency_key(assignment_id=assignment.pk, token="t"),
            choice="A",
            strength=2,
            active_seconds=40,
            signals=None if index < api_items else signals_for(index),
            now=now,
        )


@pytest.fixture
def team() -> dict[str, Any]:
    stream: Any = StreamFactory(status=Stream.Status.ACTIVE, golden_rate=0.0, overlap=5, min_sample=30)
    for _ in range(ITEMS):
        ItemFactory(stream=stream)
    people = {name: make_annotator(stream, name) for name in ("ann", "ben", "cat", "dan", "eve")}
    for offset, name in enumerate(("ann", "ben", "cat", "dan")):
        # Careful: a copy on one item in 20 (quoting a response), a short absence now and then.
        _work(
            stream,
            people[name],
            lambda i, o=offset: _signals(
                copy=(i + o) % 20 == 0, paste=False, away=3.0 if i % 10 == o else 0.0, first=5.0
            ),
            api_items=4 if name == "ann" else 0,
        )
    # The copy-paster: copies response text and pastes into the rationale on 16 of 40 items,
    # each time away from the page for ~60 s; acts on the item after 2 s.
    _work(
        stream,
        people["eve"],
        lambda i: _signals(copy=i % 5 < 2, paste=i % 5 < 2, away=60.0 if i % 5 < 2 else 0.0, first=2.0),
    )
    return {"stream": stream, **people}


def _figure(stream: Stream, user: Any, metric: str) -> MetricSnapshot:
    return MetricSnapshot.objects.filter(stream=stream, annotator=user, metric=metric, window="all").latest(
        "computed_at"
    )


def test_the_figures_and_the_rule_flag_the_copy_paster_only(team: dict[str, Any]) -> None:
    stream = team["stream"]
    _result, alerts = rules.recompute_and_act(stream=stream, now=START + timedelta(hours=2))

    eve = _figure(stream, team["eve"], "copy_rate")
    assert (eve.value, eve.sample_size, eve.details["count"], eve.details["response"]) == (0.4, 40, 16, 16)
    assert eve.details["flagged"]
    assert eve.details["direction"] == "over"
    assert eve.details["expected"] == pytest.approx(
        7 / 156, abs=1e-4
    )  # the others' items pooled (ann's first copy went by API)
    assert eve.details["away_seconds_mean"] == 24.0  # 16 items × 60 s over 40
    assert eve.details["evidence"]["test"] == "Fisher's exact, two-sided, Bonferroni over 5"
    assert _figure(stream, team["eve"], "paste_rate").details["flagged"]
    assert _figure(stream, team["eve"], "away_seconds").value == 24.0
    # Served 70 s before the submit, shown for 60 of them, first action 2 s after showing: 12 s.
    assert _figure(stream, team["eve"], "first_interaction").value == pytest.approx(12.0, abs=0.01)

    for name in ("ann", "ben", "cat", "dan"):
        copy = _figure(stream, team[name], "copy_rate")
        assert not copy.details["flagged"], name
        assert copy.details["count"] == (1 if name == "ann" else 2)
        assert not _figure(stream, team[name], "paste_rate").details["flagged"]
        assert _figure(stream, team[name], "first_interaction").value == pytest.approx(15.0, abs=0.01)
    # An API client's judgements record nothing: out of the sample, counted as unrecorded.
    ann = _figure(stream, team["ann"], "copy_rate")
    assert (ann.sample_size, ann.details["unrecorded"]) == (36, 4)

    integrity = [a for a in alerts if a.kind in rules.INTEGRITY]
    assert sorted((a.kind, a.annotator_id) for a in integrity) == [
        ("copy_rate", team["eve"].pk),
        ("paste_rate", team["eve"].pk),
    ]
    copy_alert = next(a for a in integrity if a.kind == "copy_rate")
    assert copy_alert.severity == Alert.Severity.WARNING
    assert copy_alert.action_taken == "none: shown to the PM"
    message = copy_alert.message
    assert message.startswith(
        "Copied item text on 40% of items (16 of 40: the responses on 16, the prompt on 0) and left the page "
        "for 24 s on average, 16 of them followed by time away; the others: 4%."
    )
    assert "differs from the team with" in message
    assert "Bonferroni over 5 annotators" in message
    assert "n=40" in message
    assert "weak evidence" in message
    assert StreamMembership.objects.get(stream=stream, user=team["eve"]).status == StreamMembership.Status.QUALIFIED
    # The rule does not fire again while its alert is open.
    _result, again = rules.recompute_and_act(stream=stream, now=START + timedelta(hours=3))
    assert not [a for a in again if a.kind in rules.INTEGRITY]


def test_with_nobody_else_copying_a_few_copies_on_little_evidence_are_not_enough(db: None) -> None:
    """The others' rate is 0 here, on 40 recorded items (the rest came by API): a test against 0 as
    a known rate would flag eve's 4 copies in 40 (10%); Fisher's test weighs the others' small
    sample too and does not."""
    stream: Any = StreamFactory(status=Stream.Status.ACTIVE, golden_rate=0.0, overlap=5, min_sample=30)
    for _ in range(ITEMS):
        ItemFactory(stream=stream)
    for name in ("ann", "ben", "cat", "dan", "eve"):
        copies, api = (4, 0) if name == "eve" else (0, 30)
        _work(
            stream,
            make_annotator(stream, name),
            lambda i, c=copies: _signals(copy=i < c, paste=False, away=0.0, first=3.0),
            api_items=api,
        )
    _result, alerts = rules.recompute_and_act(stream=stream, now=START + timedelta(hours=2))
    eve = MetricSnapshot.objects.get(stream=stream, annotator__username="eve", metric="copy_rate", window="all")
    assert (eve.value, eve.details["expected"], eve.details["flagged"]) == (0.1, 0.0, False)
    assert eve.details["evidence"]["details"]["team_n"] == 40
    assert eve.details["evidence"]["p_value"] > 0.01
    assert not [a for a in alerts if a.kind in rules.INTEGRITY]


def test_the_quality_page_and_my_quality_show_them(client: Client, team: dict[str, Any]) -> None:
    stream = team["stream"]
    rules.recompute_and_act(stream=stream, now=START + timedelta(hours=2))
    pm: Any = UserFactory()
    MembershipFactory(project=stream.project, user=pm, role=Role.PM)
    client.force_login(pm)
    page = client.get(reverse("qc:stream_qc", args=[stream.pk])).content.decode()
    for heading in ("Integrity", "Copied", "Pasted", "Away", "1st act"):
        assert heading in page
    assert "Copied item text on 40% of items" in page  # the open alert

    client.force_login(team["eve"])
    mine = client.get(reverse("qc:my_quality", args=[stream.pk])).content.decode()
    assert "What the labeling page records" in mine
    assert "the text you copy or paste" in mine
    assert "You copied text of the prompt or the responses on 40% of 40 items" in mine
    assert "Copying — needs attention" in mine
    assert "24 seconds on average (16 of 40 items)" in mine


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fisher_two_sided_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(300):
        n, team_n = int(rng.integers(1, 200)), int(rng.integers(1, 2000))
        k, team_k = int(rng.integers(0, n + 1)), int(rng.integers(0, team_n + 1)) if rng.random() < 0.7 else 0
        expected = stats.fisher_exact([[k, n - k], [team_k, team_n - team_k]]).pvalue
        assert evidence.fisher_two_sided(k, n, team_k, team_n) == pytest.approx(expected, rel=1e-9, abs=1e-12)
