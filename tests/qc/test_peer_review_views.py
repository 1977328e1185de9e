"""Peer review through the pages: the PM's eligibility line and actions on the annotator's QC
page, the peer reviewer's queue (that stream only, blind, never their own work), the links that
lead them to it, losing it at once, and the Reviewers table on the Quality page."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from projects.models import Role, StreamMembership
from qc import peer_review, rules
from qc.models import Review, ReviewTask
from tests.annotation.conftest import make_annotator
from tests.factories import MembershipFactory, StreamMembershipFactory, UserFactory
from tests.qc.peer_fixtures import good_annotator, peer_stream, record, sample_task, staff

pytestmark = pytest.mark.django_db

HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def team() -> dict[str, Any]:
    """alice (eligible, made a peer reviewer by pam), bob (whose work is sampled), pam (PM)."""
    stream = peer_stream()
    alice, bob, pam = good_annotator(stream, "alice"), make_annotator(stream, "bob"), staff(stream, "pam", Role.PM)
    peer_review.make_peer_reviewer(stream=stream, user=alice, actor=pam)
    return {"stream": stream, "alice": alice, "bob": bob, "pam": pam, "task": sample_task(stream, bob)}


def _qc(stream: Any, user: Any, name: str = "qc:annotator_qc") -> str:
    return reverse(name, args=[stream.pk, user.pk])


# --- The PM's page and actions -----------------------------------------------------------------------
def test_the_pm_sees_the_decision_with_its_figures_and_makes_a_peer_reviewer(client: Client) -> None:
    stream = peer_stream()
    carol, pam = good_annotator(stream, "carol"), staff(stream, "pam", Role.PM)
    client.force_login(pam)
    body = client.get(_qc(stream, carol)).content.decode()
    assert "Eligible for peer review: <strong>yes</strong>, because qualified; 6 items judged" in body
    assert "95% lower bound 74.1%" in body
    assert "Make peer reviewer" in body
    response = client.post(_qc(stream, carol, "qc:peer_review_start"))
    assert response.status_code == 302
    assert StreamMembership.objects.get(user=carol).reviews_as_peer
    body = client.get(_qc(stream, carol)).content.decode()
    assert "<strong>Peer reviewer</strong> of this stream since" in body
    assert "made one by pam" in body
    assert "Stop peer review" in body
    client.post(_qc(stream, carol, "qc:peer_review_stop"), {"note": "rotation"})
    assert not StreamMembership.objects.get(user=carol).peer_reviewer


def test_an_ineligible_annotator_is_refused_with_the_reason(client: Client) -> None:
    stream = peer_stream()
    dave, pam = make_annotator(stream, "dave"), staff(stream, "pam", Role.PM)
    record(stream, dave, work=6, gold_right=9, gold_wrong=1)
    client.force_login(pam)
    body = client.get(_qc(stream, dave)).content.decode()
    assert "Eligible for peer review: <strong>no</strong>, because 9 of 10 golden answers right" in body
    assert "Make peer reviewer" not in body
    response = client.post(_qc(stream, dave, "qc:peer_review_start"), follow=True)
    assert "cannot be a peer reviewer" in response.content.decode()
    assert "95% lower bound 60.5%" in response.content.decode()
    assert not StreamMembership.objects.get(user=dave).peer_reviewer


def test_only_the_pm_may_appoint(client: Client, team: dict[str, Any]) -> None:
    stream, bob = team["stream"], team["bob"]
    url = _qc(stream, bob, "qc:peer_review_start")
    client.force_login(staff(stream, "rita"))
    assert client.post(url).status_code == 403
    client.force_login(team["alice"])  # a peer reviewer is no PM
    assert client.post(url).status_code == 403
    client.force_login(UserFactory.create(username="outsider"))
    assert client.post(url).status_code == 404
    client.force_login(team["pam"])
    assert client.get(url).status_code == 405
    assert client.post(_qc(stream, UserFactory.create(), "qc:peer_review_start")).status_code == 404


# --- The peer reviewer's queue -----------------------------------------------------------------------
def test_a_peer_reviewer_reviews_blind_and_never_sees_names(client: Client, team: dict[str, Any]) -> None:
    stream, task = team["stream"], team["task"]
    client.force_login(team["alice"])
    response = client.get(reverse("qc:review_queue", args=[stream.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert reverse("qc:review_submit", args=[stream.pk, task.pk]) in body
    assert "You review as a peer reviewer of this stream" in body
    for name in ("bob", "pam"):  # the annotator reviewed, the PM who appointed her
        assert name not in body
    assert "gallery-mark" not in body  # marking examples stays with reviewers and PMs
    response = client.post(
        reverse("qc:review_submit", args=[stream.pk, task.pk]), {"decision": "reject", "preset": "1"}, **HTMX
    )
    assert response.status_code == 200
    assert "Nothing left for you to review" in response.content.decode()
    assert "bob" not in response.content.decode()
    assert Review.objects.get(judgement=task.judgement).reviewer == team["alice"]
    task.refresh_from_db()
    assert task.reviews_wanted == 2
    assert not task.done


def test_a_peer_reviewer_cannot_answer_tasks_outside_their_queue(client: Client, team: dict[str, Any]) -> None:
    stream, alice, bob = team["stream"], team["alice"], team["bob"]
    own = sample_task(stream, alice)
    flagged = sample_task(stream, bob, reason=ReviewTask.Reason.FLAG)
    client.force_login(alice)
    for task in (own, flagged):
        response = client.post(reverse("qc:review_submit", args=[stream.pk, task.pk]), {"decision": "accept"})
        assert response.status_code == 404
    assert not Review.objects.exists()


def test_two_peer_reviewers_on_one_task_save_only_the_first(client: Client, team: dict[str, Any]) -> None:
    stream, task, pam = team["stream"], team["task"], team["pam"]
    anna = good_annotator(stream, "anna")
    peer_review.make_peer_reviewer(stream=stream, user=anna, actor=pam)
    url = reverse("qc:review_submit", args=[stream.pk, task.pk])
    client.force_login(team["alice"])
    client.post(url, {"decision": "accept"})
    client.force_login(anna)  # she had the same task open
    response = client.post(url, {"decision": "reject", "preset": "1"}, follow=True)
    assert "Another reviewer took that judgement meanwhile: nothing was saved." in response.content.decode()
    assert list(Review.objects.values_list("reviewer__username", flat=True)) == ["alice"]
    response = client.post(url, {"decision": "accept"}, **HTMX)  # htmx: the message, in place
    assert "Another reviewer took that judgement meanwhile" in response.content.decode()


def test_the_queue_of_another_stream_is_closed(client: Client, team: dict[str, Any]) -> None:
    alice = team["alice"]
    same_project = peer_stream(project=team["stream"].project)
    StreamMembershipFactory.create(stream=same_project, user=alice)  # qualified there, not a peer reviewer
    other_project = peer_stream()
    client.force_login(alice)
    assert client.get(reverse("qc:review_queue", args=[same_project.pk])).status_code == 403
    assert client.get(reverse("qc:review_queue", args=[other_project.pk])).status_code == 404
    task = sample_task(same_project, team["bob"])
    response = client.post(reverse("qc:review_submit", args=[same_project.pk, task.pk]), {"decision": "accept"})
    assert response.status_code == 403


def test_stopping_or_a_pause_takes_the_queue_away_at_once(client: Client, team: dict[str, Any]) -> None:
    stream, alice, pam = team["stream"], team["alice"], team["pam"]
    url = reverse("qc:review_queue", args=[stream.pk])
    client.force_login(alice)
    assert client.get(url).status_code == 200
    # Standing is read on each request (a paused member cannot hold it: a database constraint).
    StreamMembership.objects.filter(user=alice).update(status=StreamMembership.Status.PAUSED, peer_reviewer=False)
    assert client.get(url).status_code == 403
    StreamMembership.objects.filter(user=alice).update(status=StreamMembership.Status.QUALIFIED)
    assert client.get(url).status_code == 403  # peer review did not come back with the status
    peer_review.make_peer_reviewer(stream=stream, user=alice, actor=pam)
    assert client.get(url).status_code == 200
    rules.pause_annotator(stream=stream, annotator_id=alice.pk, reason="gold", actor=pam)
    assert client.get(url).status_code == 403
    rules.resume_annotator(stream=stream, annotator_id=alice.pk, reason="ok", actor=pam)
    peer_review.make_peer_reviewer(stream=stream, user=alice, actor=pam)
    peer_review.stop_peer_review(stream=stream, user=alice, actor=pam)
    assert client.get(url).status_code == 403


def test_the_peer_reviewer_is_led_to_the_queue(client: Client, team: dict[str, Any]) -> None:
    stream, alice = team["stream"], team["alice"]
    client.force_login(alice)
    queue = reverse("qc:review_queue", args=[stream.pk])
    home = client.get(reverse("annotation:stream_home", args=[stream.pk])).content.decode()
    assert f'href="{queue}" id="peer-review-link">Review 1 task →' in home
    assert f'href="{reverse("qc:review_home")}"' in home  # the navigation's Review entry
    review_home = client.get(reverse("qc:review_home")).content.decode()
    assert f'href="{queue}">Review 1 task</a>' in review_home
    client.force_login(team["bob"])
    home = client.get(reverse("annotation:stream_home", args=[stream.pk])).content.decode()
    assert "peer-review-link" not in home
    assert f'href="{reverse("qc:review_home")}"' not in home


def test_a_project_reviewer_still_reviews_everything(client: Client, team: dict[str, Any]) -> None:
    stream = team["stream"]
    flagged = sample_task(stream, team["bob"], reason=ReviewTask.Reason.FLAG)
    client.force_login(staff(stream, "rita"))
    body = client.get(reverse("qc:review_queue", args=[stream.pk])).content.decode()
    assert reverse("qc:review_submit", args=[stream.pk, flagged.pk]) in body
    assert "gallery-mark" in body


# --- The Quality page ----------------------------------------------------------------------------------
def test_the_quality_page_lists_reviewers_with_their_agreement(client: Client, team: dict[str, Any]) -> None:
    stream, alice, task = team["stream"], team["alice"], team["task"]
    rita = staff(stream, "rita")
    peer_review.submit_peer_review(task=task, reviewer=alice, decision="accept")
    from qc import review

    review.submit_review(judgement=task.judgement, reviewer=rita, decision="accept")
    MembershipFactory.create(project=stream.project, user=UserFactory.create(username="nobody-reviews"))
    client.force_login(team["pam"])
    body = client.get(reverse("qc:stream_qc", args=[stream.pk])).content.decode()
    assert 'id="reviewers"' in body
    assert f'href="{_qc(stream, alice)}#peer-review">alice</a>' in body
    assert "1 of 1 (100%)" in body
    assert "still eligible: yes" in body
    assert '<a class="badge" href="#reviewers">peer reviewer</a>' in body  # in the annotator table
    members = client.get(reverse("members", args=[stream.project.slug])).content.decode()
    assert members.count('<span class="badge">peer reviewer</span>') == 1
    assert "nobody-reviews" not in body.split('id="reviewers"')[1].split("</section>")[0]
