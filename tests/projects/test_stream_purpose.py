"""A stream's purpose (the weakness it targets, with optional domain, language, capability and
safety tags): set on the stream form and through the stream settings API, validated alike."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from projects.models import Stream
from tests.factories import StreamFactory
from tests.projects.test_views_stream_form import _data
from tests.projects.web_helpers import project_with_pm

pytestmark = pytest.mark.django_db

PURPOSE: dict[str, Any] = {
    "purpose": "Weakness: multi-step arithmetic in German",
    "purpose_domain": "math",
    "purpose_language": "de",
    "purpose_capability": "multi-step reasoning",
    "purpose_safety": "",
}


def test_it_saves_the_purpose_from_the_stream_form(client: Client) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    form = client.get(f"/projects/{project.slug}/streams/new/").content.decode()
    assert 'name="purpose"' in form
    assert 'name="purpose_language"' in form
    response = client.post(f"/projects/{project.slug}/streams/new/", _data(**PURPOSE))
    assert response.status_code == 302, response.content
    stream = Stream.objects.get(project=project, slug="german-chat")
    assert stream.purpose == PURPOSE["purpose"]
    assert stream.purpose_tags() == [("domain", "math"), ("language", "de"), ("capability", "multi-step reasoning")]


def test_it_refuses_a_language_that_is_not_a_language_tag(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project, slug="german-chat")
    client.force_login(pm)
    response = client.post(f"/streams/{stream.pk}/edit/", _data(**{**PURPOSE, "purpose_language": "German!"}))
    assert response.status_code == 400
    assert "A language tag such as de, en or pt-BR" in response.content.decode()
    stream.refresh_from_db()
    assert stream.purpose == ""


def test_the_stream_page_says_what_the_stream_is_for(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project, **{**PURPOSE, "purpose": "Weakness: <b>German</b> sums"})
    client.force_login(pm)
    body = client.get(f"/streams/{stream.pk}/").content.decode()
    assert "Weakness: &lt;b&gt;German&lt;/b&gt; sums" in body  # escaped: PM text, never markup
    assert f'href="/projects/{project.slug}/?tag=language:de"' in body
