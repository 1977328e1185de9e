"""The members page in Chromium: a stream's status form arrives in place when asked for (the page
no longer carries a form per member and stream) and its answer replaces the member's row."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from projects.models import Role, Stream, StreamMembership
from tests.annotation.conftest import make_annotator
from tests.e2e.conftest import login
from tests.factories import PASSWORD, MembershipFactory, StreamFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_pm_pauses_a_member_in_one_stream_in_place(page: Page, live_server: Any) -> None:
    stream: Any = StreamFactory(status=Stream.Status.ACTIVE, name="German chat")
    pm: Any = UserFactory(username="boss")
    MembershipFactory(project=stream.project, user=pm, role=Role.PM)
    alice = make_annotator(stream, "alice")
    login(page, live_server, pm.username, PASSWORD)
    page.goto(f"{live_server.url}/projects/{stream.project.slug}/members/")
    assert page.locator("select[name=status]").count() == 0  # no form until asked for
    page.get_by_role("link", name="Change alice in German chat").click()
    status = page.get_by_label("New status of alice in German chat")
    expect(status).to_be_visible()
    status.select_option("paused")
    page.get_by_label("Reason").fill("Spot check")
    page.get_by_role("button", name="Apply").click()
    row = page.locator(f"#member-{alice.memberships.get().pk}")
    expect(row).to_contain_text("Paused")
    expect(row).to_contain_text("Spot check")
    assert page.url.endswith("/members/")  # in place: no navigation
    assert StreamMembership.objects.get(stream=stream, user=alice).status == "paused"
    assert page.console_errors == []
