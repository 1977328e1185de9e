"""The program overview in Chromium: the project page's rows, and a dynamic stream's model
versions over time loaded in place by htmx and drawn by Chart.js (no console error, no CSP
violation). ``QUORUM_SCREENSHOTS=1`` refreshes docs/img/program-overview.png."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from annotation.models import Judgement
from dynamic.models import ModelEndpoint
from projects.models import Role, Stream
from tests.e2e.conftest import login, screenshot_path
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, StreamFactory, UserFactory
from tests.qc.test_model_comparison import _judged_turn

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_pm_sees_the_program_and_the_models_over_time(page: Page, live_server: Any) -> None:
    project = ProjectFactory.create(name="Assistant v4 program")
    pm = UserFactory.create()
    MembershipFactory.create(project=project, user=pm, role=Role.PM)
    StreamFactory.create(
        project=project,
        name="German arithmetic",
        purpose="Weakness: multi-step arithmetic in German",
        purpose_domain="math",
        purpose_language="de",
        status=Stream.Status.ACTIVE,
    )
    chat = StreamFactory.create(
        project=project,
        name="Eval: math-de",
        mode=Stream.Mode.DYNAMIC,
        overlap=1,
        max_turns=1,
        purpose="Weakness: math-de (mean score 0.30 over 120 prompts in eval.jsonl)",
        purpose_capability="math-de",
        status=Stream.Status.ACTIVE,
    )
    annotator = UserFactory.create()
    MembershipFactory.create(project=project, user=annotator, role=Role.ANNOTATOR)
    v1, v2, v3 = (
        ModelEndpoint.objects.create(project=project, name=name, base_url="https://models.example/v1", model=name)
        for name in ("assistant-v1", "assistant-v2", "assistant-v3")
    )
    for weeks_ago, first, second, choices in ((2, v1, v2, "AAB"), (1, v1, v2, "ABB"), (0, v2, v3, "BBAB")):
        before = set(Judgement.objects.values_list("pk", flat=True))
        for choice in choices:
            _judged_turn(chat, annotator, first, second, choice)
        Judgement.objects.exclude(pk__in=before).update(submitted_at=timezone.now() - timedelta(weeks=weeks_ago))

    login(page, live_server, pm.username, PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.slug}/")
    expect(page.locator("#program-overview")).to_contain_text("Weakness: multi-step arithmetic in German")
    page.locator("#model-versions").scroll_into_view_if_needed()
    chart = page.locator(f"#model-history-{chat.pk}")
    expect(chart).to_have_attribute("data-drawn", "1")
    expect(chart).to_contain_text("assistant-v3")
    page.screenshot(path=str(screenshot_path("program-overview.png")), full_page=True)
    # A tag filters the rows.
    page.get_by_role("link", name="language: de").click()
    expect(page.locator("#program-overview tbody tr")).to_have_count(1)
    assert page.console_errors == []
