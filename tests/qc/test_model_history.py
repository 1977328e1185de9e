"""Model versions over time (issue 16, part 4): each endpoint's win rate per ISO week and its
Bradley–Terry rating as of each week's end; the PM-only page and its htmx part on the project
page. Figures checked against a hand-computed fixture."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotation.models import Judgement
from projects.models import Role, Stream
from qc import model_comparison
from qc.model_comparison import ELO, _scores, fit_bradley_terry
from tests.projects.web_helpers import member, outsider
from tests.qc.test_model_comparison import _judged_turn, setup

pytestmark = pytest.mark.django_db
__all__ = ["setup"]  # the fixture, shared with the model comparison tests


def _history_fixture(stream: Stream, annotator: Any, eps: dict[str, Any]) -> None:
    """Two weeks ago: alpha (v1) against beta (v2) four times, alpha wins three. This week: beta
    against gamma (v3) three times, gamma wins two and one is a tie."""
    now = timezone.now()
    two_weeks_ago = now - timedelta(days=14)
    for choice in ("A", "A", "A", "B"):
        _judged_turn(stream, annotator, eps["alpha"], eps["beta"], choice)
    Judgement.objects.update(submitted_at=two_weeks_ago)
    for choice in ("B", "B", "tie"):
        _judged_turn(stream, annotator, eps["beta"], eps["gamma"], choice)


def test_it_gives_weekly_win_rates_and_ratings_as_of_each_week(setup: Any) -> None:
    stream, annotator, eps = setup
    _history_fixture(stream, annotator, eps)
    history = model_comparison.model_history(stream, bootstrap=50)
    assert history.comparisons == 7
    assert len(history.weeks) == 2
    assert [e.name for e in history.endpoints] == ["alpha", "beta", "gamma"]  # by first comparison
    alpha, beta, gamma = (history.points[eps[name].pk] for name in ("alpha", "beta", "gamma"))
    # Week 1: alpha 3 of 4 = 75%, beta 25%; gamma not compared yet (no rating either).
    assert (alpha[0].n, alpha[0].win_rate) == (4, 0.75)
    assert (beta[0].n, beta[0].win_rate) == (4, 0.25)
    assert (gamma[0].n, gamma[0].win_rate, gamma[0].rating) == (0, None, None)
    # Week 2: gamma (2 + ½) / 3, beta ½ / 3; alpha not compared that week but still rated.
    assert gamma[1].win_rate == pytest.approx(5 / 6)
    assert beta[1].win_rate == pytest.approx(1 / 6)
    assert (alpha[1].n, alpha[1].win_rate) == (0, None)
    assert alpha[1].rating is not None
    # Week 1's ratings are the fit on week 1's turns alone: 1000 ± the same distance.
    theta = fit_bradley_terry(2, _scores([(0, 1, "A")] * 3 + [(0, 1, "B")], {0: 0, 1: 1}))
    assert alpha[0].rating == pytest.approx(1000 + ELO * theta[0])
    assert beta[0].rating == pytest.approx(1000 + ELO * theta[1])
    assert alpha[0].rating is not None
    assert beta[0].rating is not None
    assert alpha[0].rating + beta[0].rating == pytest.approx(2000)
    # As of week 2 the new version is ahead of the one it replaces.
    assert gamma[1].rating is not None
    assert beta[1].rating is not None
    assert gamma[1].rating > beta[1].rating
    assert alpha[0].low is not None
    assert alpha[0].high is not None
    assert alpha[0].low <= alpha[0].rating <= alpha[0].high
    chart = history.to_chart()
    assert chart["weeks"] == history.weeks
    assert chart["models"][2]["win_rate"] == [None, round(5 / 6, 4)]


def test_a_stream_without_judged_turns_has_no_weeks(setup: Any) -> None:
    stream, _annotator, _eps = setup
    history = model_comparison.model_history(stream)
    assert history.weeks == []
    assert history.comparisons == 0


def test_the_page_is_for_pms_and_its_part_loads_on_the_project_page(setup: Any) -> None:
    stream, annotator, eps = setup
    _history_fixture(stream, annotator, eps)
    pm = member(stream.project, Role.PM)
    url = reverse("qc:stream_model_history", args=[stream.pk])
    client = Client()
    client.force_login(pm)
    page = client.get(url)
    assert page.status_code == 200
    assert b"<html" in page.content
    assert f'id="model-history-data-{stream.pk}"'.encode() in page.content
    part = client.get(url, HTTP_HX_REQUEST="true")
    assert part.status_code == 200
    assert b"<html" not in part.content
    assert b"gamma" in part.content
    assert client.post(url).status_code == 405
    project_page = client.get(f"/projects/{stream.project.slug}/").content.decode()
    assert 'id="model-versions"' in project_page
    assert f'hx-get="{url}"' in project_page
    for user, status in ((outsider(), 404), (member(stream.project, Role.REVIEWER), 403), (annotator, 403)):
        other = Client()
        other.force_login(user)
        assert other.get(url).status_code == status
    # Reviewers see the project page without the model names.
    reviewer = Client()
    reviewer.force_login(member(stream.project, Role.REVIEWER))
    assert 'id="model-versions"' not in reviewer.get(f"/projects/{stream.project.slug}/").content.decode()


def test_ratings_are_finite_when_one_model_won_everything(setup: Any) -> None:
    stream, annotator, eps = setup
    for _ in range(3):
        _judged_turn(stream, annotator, eps["alpha"], eps["beta"], "A")
    history = model_comparison.model_history(stream, bootstrap=20)
    ratings = [history.points[eps[name].pk][0].rating for name in ("alpha", "beta")]
    first, second = ratings
    assert first is not None
    assert second is not None
    assert math.isfinite(first)
    assert math.isfinite(second)
    assert np.sign(first - second) == 1
