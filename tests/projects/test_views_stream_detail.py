from __future__ import annotations

import pytest
from django.test import Client

from annotation.models import ImportBatch, Item
from projects.models import Role
from tests.factories import ItemFactory, StreamFactory, StreamMembershipFactory, UserFactory
from tests.projects.web_helpers import HTMX, annotator_in, member, outsider, project_with_pm

pytestmark = pytest.mark.django_db


def test_it_shows_a_pm_settings_counts_and_imports(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project, name="Harmlessness", rubric=["helpfulness"], golden_rate=0.1)
    ItemFactory.create_batch(3, stream=stream)
    ItemFactory.create(stream=stream, is_golden=True, golden_answers=["A"])
    ItemFactory.create(stream=stream, prior_label={"choice": "A", "source": "hh:chosen"})
    ItemFactory.create(stream=stream, pool=Item.Pool.QUALIFICATION)
    ImportBatch.objects.create(stream=stream, filename="hh.jsonl", format="hh", status="done", created_count=5)
    annotator_in(stream, "testing")
    client.force_login(pm)
    response = client.get(f"/streams/{stream.pk}/")
    assert response.status_code == 200
    counts = response.context["counts"]
    assert counts == {"total": 6, "golden": 1, "prior": 1, "qualification": 1}
    body = response.content.decode()
    assert "hh.jsonl" in body
    assert "rubric 0–4: helpfulness" in body
    assert "Edit stream" in body
    assert response.context["member_counts"] == {"testing": 1}


def test_it_returns_only_the_counts_fragment_to_htmx(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project)
    ItemFactory.create(stream=stream)
    client.force_login(pm)
    response = client.get(f"/streams/{stream.pk}/", **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "<dt>Total</dt><dd>1</dd>" in body
    assert "<html" not in body
    assert "Settings" not in body


def test_it_shows_a_reviewer_the_stream_without_edit_actions(client: Client) -> None:
    project, _ = project_with_pm()
    stream = StreamFactory.create(project=project)
    client.force_login(member(project, Role.REVIEWER))
    response = client.get(f"/streams/{stream.pk}/")
    assert response.status_code == 200
    assert b"Edit stream" not in response.content


def test_it_shows_an_invited_annotator_the_sanitised_guidelines(client: Client) -> None:
    project, _ = project_with_pm()
    stream = StreamFactory.create(
        project=project, guidelines="Be **careful**.<script>alert(1)</script>[x](javascript:y)"
    )
    client.force_login(annotator_in(stream, "invited"))
    response = client.get(f"/streams/{stream.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "<strong>careful</strong>" in body
    assert "<script>alert" not in body
    assert 'href="javascript:' not in body
    assert "Edit stream" not in body
    assert "Total" not in body  # no PM figures


def test_it_shows_a_paused_annotator_the_reason(client: Client) -> None:
    project, _ = project_with_pm()
    stream = StreamFactory.create(project=project)
    user = member(project, Role.ANNOTATOR)
    StreamMembershipFactory.create(stream=stream, user=user, status="paused", status_reason="Gold accuracy 0.4 < 0.7")
    client.force_login(user)
    assert b"Gold accuracy 0.4 &lt; 0.7" in client.get(f"/streams/{stream.pk}/").content


@pytest.mark.parametrize("status", [None, "removed"])
def test_it_hides_streams_an_annotator_is_not_in(client: Client, status: str | None) -> None:
    project, _ = project_with_pm()
    stream = StreamFactory.create(project=project)
    user = member(project, Role.ANNOTATOR)
    if status:
        StreamMembershipFactory.create(stream=stream, user=user, status=status)
    client.force_login(user)
    assert client.get(f"/streams/{stream.pk}/").status_code == 404


def test_it_hides_a_stream_from_outsiders(client: Client) -> None:
    stream = StreamFactory.create()
    client.force_login(outsider())
    assert client.get(f"/streams/{stream.pk}/").status_code == 404
    assert client.get("/streams/987654/").status_code == 404


def test_it_shows_staff_any_stream(client: Client) -> None:
    stream = StreamFactory.create()
    client.force_login(UserFactory.create(is_staff=True))
    assert client.get(f"/streams/{stream.pk}/").status_code == 200


def test_it_redirects_anonymous_users_from_a_stream(client: Client) -> None:
    stream = StreamFactory.create()
    assert client.get(f"/streams/{stream.pk}/").status_code == 302


def test_it_refuses_post_on_stream_detail(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project)
    client.force_login(pm)
    assert client.post(f"/streams/{stream.pk}/").status_code == 405


@pytest.mark.parametrize(
    ("stream_status", "member_status", "shown"),
    [
        ("active", "qualified", True),
        ("active", "invited", True),
        ("paused", "qualified", False),
        ("active", "paused", False),
    ],
)
def test_it_links_annotators_to_labeling_when_they_can_label(
    client: Client, stream_status: str, member_status: str, shown: bool
) -> None:
    project, _ = project_with_pm()
    stream = StreamFactory.create(project=project, status=stream_status)
    client.force_login(annotator_in(stream, member_status))
    assert (b"Start labeling" in client.get(f"/streams/{stream.pk}/").content) is shown
