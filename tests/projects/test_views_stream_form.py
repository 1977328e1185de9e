from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from projects.models import Role, Stream
from tests.factories import StreamFactory, UserFactory
from tests.projects.web_helpers import member, outsider, project_with_pm

pytestmark = pytest.mark.django_db


def _data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "German chat",
        "slug": "german-chat",
        "status": "draft",
        "priority": 5,
        "guidelines": "# Rules\n\nPrefer the **helpful** answer.",
        "task_kind": "pairwise",
        "rubric": ["correctness", "helpfulness"],
        "mode": "static",
        "overlap": 3,
        "adaptive_min_agree": 2,
        "order": "depth",
        "lease_minutes": 10,
        "golden_rate": 0.1,
        "review_rate": 0.05,
        "min_gold_accuracy": 0.75,
        "min_gold_count": 10,
        "min_agreement": 0.4,
        "min_seconds": 8,
        "min_sample": 30,
        "min_confidence": 0.0,
        "max_turns": 8,
        "truncated_answers": "judge_only",
    }
    data.update(overrides)
    return data


# --- create ---
def test_it_shows_the_stream_form_with_a_live_preview(client: Client) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    response = client.get(f"/projects/{project.slug}/streams/new/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f'hx-post="/projects/{project.slug}/preview/"' in body
    assert 'hx-trigger="keyup changed delay:300ms' in body
    assert 'id="guidelines-preview"' in body
    for name in Stream.RUBRIC_CHOICES:
        assert f'value="{name}"' in body


def test_it_creates_a_stream_with_every_setting(client: Client) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    response = client.post(
        f"/projects/{project.slug}/streams/new/",
        _data(adaptive_overlap="on", show_golden_explanation="on", mode="dynamic", max_turns=4),
    )
    stream = Stream.objects.get(project=project, slug="german-chat")
    assert response.status_code == 302
    assert response["Location"] == f"/streams/{stream.pk}/"
    assert stream.rubric == ["helpfulness", "correctness"]  # canonical order
    assert (stream.mode, stream.max_turns, stream.priority) == ("dynamic", 4, 5)
    assert stream.adaptive_overlap
    assert stream.show_golden_explanation
    assert (stream.golden_rate, stream.min_gold_accuracy, stream.min_agreement) == (0.1, 0.75, 0.4)


def test_it_creates_a_ranking_stream(client: Client) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    client.post(f"/projects/{project.slug}/streams/new/", _data(task_kind="ranking", rubric=[]))
    stream = Stream.objects.get(slug="german-chat")
    assert stream.task_kind == "ranking"
    assert stream.rubric == []


def test_it_rejects_a_slug_taken_in_the_same_project_with_400(client: Client) -> None:
    project, pm = project_with_pm()
    StreamFactory.create(project=project, slug="german-chat")
    client.force_login(pm)
    response = client.post(f"/projects/{project.slug}/streams/new/", _data())
    assert response.status_code == 400
    assert b"already has a stream with this slug" in response.content
    assert Stream.objects.filter(project=project).count() == 1


def test_it_allows_the_same_slug_in_another_project(client: Client) -> None:
    StreamFactory.create(slug="german-chat")
    project, pm = project_with_pm()
    client.force_login(pm)
    assert client.post(f"/projects/{project.slug}/streams/new/", _data()).status_code == 302


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("golden_rate", "1.5"),
        ("review_rate", "-0.1"),
        ("min_gold_accuracy", "2"),
        ("min_agreement", "-2"),
        ("overlap", "0"),
        ("task_kind", "essay"),
        ("mode", "live"),
        ("status", "deleted"),
        ("rubric", ["charm"]),
        ("slug", "no spaces"),
        ("name", ""),
        ("lease_minutes", "0"),
    ],
)
def test_it_rejects_bad_values_with_400_and_a_field_error(client: Client, field: str, value: Any) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    response = client.post(f"/projects/{project.slug}/streams/new/", _data(**{field: value}))
    assert response.status_code == 400
    assert response.context["form"].errors.get(field)
    assert not Stream.objects.exists()


def test_it_rejects_adaptive_agreement_above_the_overlap(client: Client) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    response = client.post(
        f"/projects/{project.slug}/streams/new/", _data(adaptive_overlap="on", overlap=2, adaptive_min_agree=3)
    )
    assert response.status_code == 400
    assert b"Cannot be more than the overlap" in response.content


def test_it_previews_without_saving_when_javascript_is_off(client: Client) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    response = client.post(f"/projects/{project.slug}/streams/new/", _data(preview="1", guidelines="*hello*"))
    assert response.status_code == 200
    assert b"<em>hello</em>" in response.content
    assert not Stream.objects.exists()


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER])
def test_it_refuses_stream_create_below_pm(client: Client, role: str) -> None:
    project, _ = project_with_pm()
    client.force_login(member(project, role))
    assert client.get(f"/projects/{project.slug}/streams/new/").status_code == 403
    assert client.post(f"/projects/{project.slug}/streams/new/", _data()).status_code == 403
    assert not Stream.objects.exists()


def test_it_hides_stream_create_from_outsiders(client: Client) -> None:
    project, _ = project_with_pm()
    client.force_login(outsider())
    assert client.post(f"/projects/{project.slug}/streams/new/", _data()).status_code == 404


def test_it_redirects_anonymous_users_from_stream_create(client: Client) -> None:
    project, _ = project_with_pm()
    assert client.get(f"/projects/{project.slug}/streams/new/").status_code == 302


def test_it_refuses_put_on_stream_create(client: Client) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    assert client.put(f"/projects/{project.slug}/streams/new/").status_code == 405


# --- edit ---
def test_it_edits_a_stream(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project, slug="german-chat", rubric=["verbosity"])
    client.force_login(pm)
    page = client.get(f"/streams/{stream.pk}/edit/")
    assert page.status_code == 200
    assert b'value="verbosity" id="id_rubric_4" checked' in page.content
    response = client.post(f"/streams/{stream.pk}/edit/", _data(status="paused", overlap=5))
    assert response.status_code == 302
    stream.refresh_from_db()
    assert (stream.status, stream.overlap, stream.name) == ("paused", 5, "German chat")


def test_it_keeps_slugs_unique_when_editing(client: Client) -> None:
    project, pm = project_with_pm()
    StreamFactory.create(project=project, slug="taken")
    stream = StreamFactory.create(project=project, slug="mine", name="Original")
    client.force_login(pm)
    response = client.post(f"/streams/{stream.pk}/edit/", _data(slug="taken", name="Changed"))
    assert response.status_code == 400
    stream.refresh_from_db()
    assert (stream.slug, stream.name) == ("mine", "Original")


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER])
def test_it_refuses_stream_edit_below_pm(client: Client, role: str) -> None:
    project, _ = project_with_pm()
    stream = StreamFactory.create(project=project)
    client.force_login(member(project, role))
    assert client.get(f"/streams/{stream.pk}/edit/").status_code == 403
    assert client.post(f"/streams/{stream.pk}/edit/", _data()).status_code == 403


def test_it_hides_stream_edit_from_outsiders_and_pms_of_other_projects(client: Client) -> None:
    stream = StreamFactory.create()
    client.force_login(outsider())
    assert client.get(f"/streams/{stream.pk}/edit/").status_code == 404
    _, other_pm = project_with_pm()
    client.force_login(other_pm)
    assert client.post(f"/streams/{stream.pk}/edit/", _data()).status_code == 404
    assert client.get("/streams/999999/edit/").status_code == 404


def test_it_lets_staff_edit_any_stream(client: Client) -> None:
    stream = StreamFactory.create()
    client.force_login(UserFactory.create(is_staff=True))
    assert client.post(f"/streams/{stream.pk}/edit/", _data()).status_code == 302


def test_it_redirects_anonymous_users_from_stream_edit(client: Client) -> None:
    stream = StreamFactory.create()
    assert client.get(f"/streams/{stream.pk}/edit/").status_code == 302


def test_it_refuses_delete_on_stream_edit(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project)
    client.force_login(pm)
    assert client.delete(f"/streams/{stream.pk}/edit/").status_code == 405


# --- Multi-axis task kinds ------------------------------------------------------------------------
def test_it_creates_a_per_attribute_stream_with_its_settings(client: Client) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    data = _data(
        task_kind="attribute_pairwise",
        attributes="Correctness\n\n  instruction following \nstyle",
        justification_min_words="12",
    )
    response = client.post(f"/projects/{project.slug}/streams/new/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    stream = Stream.objects.get(project=project, slug="german-chat")
    assert stream.task_kind == "attribute_pairwise"
    assert stream.attributes == ["Correctness", "instruction following", "style"]
    assert stream.justification_min_words == 12
    # The edit page shows them one per line again.
    page = client.get(f"/streams/{stream.pk}/edit/").content.decode()
    assert "Correctness\ninstruction following\nstyle</textarea>" in page


def test_it_creates_a_helpful_safe_stream_with_harm_categories(client: Client) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    response = client.post(
        f"/projects/{project.slug}/streams/new/",
        _data(task_kind="helpful_safe", harm_categories="violence\nprivacy"),
    )
    assert response.status_code == 302
    stream = Stream.objects.get(project=project, slug="german-chat")
    assert (stream.task_kind, stream.harm_categories, stream.justification_min_words) == (
        "helpful_safe",
        ["violence", "privacy"],
        0,
    )


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"task_kind": "attribute_pairwise", "attributes": ""}, "attributes", "at least one attribute"),
        ({"task_kind": "attribute_pairwise", "attributes": "style\nStyle"}, "attributes", "given twice"),
        ({"task_kind": "attribute_pairwise", "attributes": "x" * 41}, "attributes", "longer than 40"),
        ({"harm_categories": "\n".join(f"c{n}" for n in range(13))}, "harm_categories", "At most 12"),
        ({"justification_min_words": "-1"}, "justification_min_words", "greater than or equal to 0"),
        ({"task_kind": "helpful_safe", "mode": "dynamic"}, "mode", "static only"),
    ],
)
def test_it_rejects_bad_multi_axis_settings(
    client: Client, overrides: dict[str, Any], field: str, message: str
) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    response = client.post(f"/projects/{project.slug}/streams/new/", _data(**overrides))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert message in " ".join(errors[field]), errors
    assert not Stream.objects.filter(project=project).exists()
