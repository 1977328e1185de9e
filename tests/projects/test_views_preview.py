from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from projects.models import Role
from tests.projects.web_helpers import HTMX, member, outsider, project_with_pm

pytestmark = pytest.mark.django_db


def _preview(client: Client, slug: str, text: str, **extra: Any) -> Any:
    return client.post(f"/projects/{slug}/preview/", {"guidelines": text}, **extra)


def test_it_renders_markdown_as_a_fragment(client: Client) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    response = _preview(client, project.slug, "# Title\n\nPick the *better* answer.", **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "<h1>Title</h1>" in body
    assert "<em>better</em>" in body
    assert "<html" not in body
    assert "topbar" not in body


# Patterns that would only appear inside a live tag or attribute (text showing the same words,
# escaped, is harmless and expected).
@pytest.mark.parametrize(
    ("source", "forbidden"),
    [
        ("<script>alert(1)</script>", r"<script"),
        ("[click](javascript:alert(1))", r"href=\S*javascript:"),
        ("[click](JaVaScRiPt:alert(1))", r"(?i)href=\S*javascript:"),
        ("<a href='javascript:alert(1)'>x</a>", r"<a\b"),
        ('<img src="x" onerror="alert(1)">', r"<img\b"),
        ('![x](https://example.org/a.png "t" onerror=alert(1))', r"<[^>]*\sonerror="),
        ('![x](x" onerror="alert(1))', r"<[^>]*\sonerror="),
        ("<iframe src='https://evil.example'></iframe>", r"<iframe"),
    ],
)
def test_it_sanitises_the_preview(client: Client, source: str, forbidden: str) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    body = _preview(client, project.slug, source, **HTMX).content.decode()
    assert not re.search(forbidden, body), body


def test_it_shows_raw_html_as_text(client: Client) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    body = _preview(client, project.slug, "<script>alert(1)</script>").content.decode()
    assert "&lt;script&gt;" in body


def test_it_previews_an_empty_text(client: Client) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    assert b"Nothing to preview yet" in _preview(client, project.slug, "").content


def test_it_refuses_annotators(client: Client) -> None:
    project, _ = project_with_pm()
    client.force_login(member(project, Role.ANNOTATOR))
    assert _preview(client, project.slug, "x", **HTMX).status_code == 403


def test_it_hides_the_preview_from_outsiders(client: Client) -> None:
    project, _ = project_with_pm()
    client.force_login(outsider())
    assert _preview(client, project.slug, "x").status_code == 404


def test_it_redirects_anonymous_users_from_preview(client: Client) -> None:
    project, _ = project_with_pm()
    assert _preview(client, project.slug, "x").status_code == 302


def test_it_refuses_get_on_preview(client: Client) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    assert client.get(f"/projects/{project.slug}/preview/").status_code == 405


def test_it_needs_the_csrf_token(client: Client) -> None:
    project, pm = project_with_pm()
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(pm)
    assert _preview(csrf_client, project.slug, "x", **HTMX).status_code == 403
