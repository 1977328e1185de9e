"""The Quality page's chart of one annotator over time in Chromium: the page carries the first
annotator's whole series and everyone's latest points; choosing another annotator fetches their
whole series (``qc:annotator_history``) and redraws, with no console error or CSP violation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page

from projects.models import Role, Stream
from qc.charts import RECENT_POINTS
from qc.models import MetricSnapshot
from tests.annotation.conftest import make_annotator
from tests.e2e.conftest import login
from tests.factories import PASSWORD, MembershipFactory, StreamFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
COMPUTATIONS = RECENT_POINTS + 4


def _labels(page: Page) -> int:
    return int(
        page.evaluate(
            """() => {
              const canvas = document.querySelector('[data-chart="history-annotator"] canvas');
              const chart = window.Chart.getChart(canvas);
              return chart ? chart.data.labels.length : -1;
            }"""
        )
    )


def test_choosing_an_annotator_fetches_their_whole_series(page: Page, live_server: Any) -> None:
    stream = StreamFactory.create(status=Stream.Status.ACTIVE)
    pm = UserFactory.create()
    MembershipFactory.create(project=stream.project, user=pm, role=Role.PM)
    people = [make_annotator(stream, name) for name in ("ada", "bea")]
    now = timezone.now()
    MetricSnapshot.objects.bulk_create(
        MetricSnapshot(
            stream=stream,
            annotator=person,
            metric=metric,
            window=MetricSnapshot.Window.ALL,
            value=0.8,
            sample_size=20 + k,
            details={"correct": 16, "flagged": False},
            computed_at=now - timedelta(hours=COMPUTATIONS - k),
        )
        for person in people
        for metric in ("gold_accuracy", "agreement")
        for k in range(COMPUTATIONS)
    )
    login(page, live_server, pm.username, PASSWORD)
    page.goto(f"{live_server.url}/streams/{stream.pk}/qc/")
    page.wait_for_function("() => window.Chart && document.querySelector('[data-chart=\"history-annotator\"] canvas')")
    assert _labels(page) == COMPUTATIONS  # ada's whole series came with the page
    with page.expect_response(lambda r: f"/qc/annotators/{people[1].pk}/history/" in r.url) as response:
        page.select_option('[data-chart-select="history-annotator"]', "1")
    assert response.value.ok
    page.wait_for_function(
        "() => window.Chart.getChart(document.querySelector('[data-chart=\"history-annotator\"] canvas'))"
        f".data.labels.length === {COMPUTATIONS}"
    )
    assert page.console_errors == []
