"""The PM's model-endpoint pages: create, edit, test connection; scoped; no key on any page."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from dynamic.demo_model import Behaviour
from dynamic.models import ModelEndpoint
from projects.models import Role
from tests.model_servers import GPT, bind_key, endpoint, model_server, server_host
from tests.projects.web_helpers import HTMX, member, outsider, project_with_pm

pytestmark = pytest.mark.django_db
SECRET = "sk-live-DO-NOT-LEAK-4242"


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _fields(url: str, **overrides: Any) -> dict[str, Any]:
    data = {
        "name": "Llama 3.1 8B (vLLM)",
        "base_url": url,
        "model": GPT,
        "temperature": "0.7",
        "top_p": "",
        "max_tokens": "256",
        "system_prompt": "You are helpful.",
        "api_key_env": "VLLM_API_KEY",
        "timeout_seconds": "30",
        "is_active": "on",
    }
    data.update(overrides)
    return data


def test_a_pm_creates_an_endpoint() -> None:
    project, pm = project_with_pm()
    with model_server() as server, bind_key("VLLM_API_KEY", server_host(server)):
        response = _client(pm).post(reverse("dynamic:endpoint_create", args=[project.slug]), _fields(server.url + "/"))
    created = ModelEndpoint.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("dynamic:endpoint_edit", args=[project.slug, created.pk])
    assert created.base_url == server.url  # trailing slash dropped
    assert created.parameters == {"temperature": 0.7, "max_tokens": 256}
    assert created.api_key_env == "VLLM_API_KEY"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://[::1]/v1",
        "http://[::ffff:127.0.0.1]/v1",
        "http://2130706433/v1",
        "http://0177.0.0.1/v1",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/v1",
    ],
)
def test_private_addresses_are_refused_when_saved(url: str) -> None:
    project, pm = project_with_pm()
    response = _client(pm).post(reverse("dynamic:endpoint_create", args=[project.slug]), _fields(url))
    assert response.status_code == 400
    assert "QUORUM_ENDPOINT_ALLOWED_HOSTS" in response.content.decode()
    assert not ModelEndpoint.objects.exists()


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL", "sk-abc123", "openai_api_key", "EMAIL_HOST_PASSWORD"])
def test_the_key_field_takes_only_an_api_key_variable_name(name: str) -> None:
    project, pm = project_with_pm()
    with model_server() as server:
        response = _client(pm).post(
            reverse("dynamic:endpoint_create", args=[project.slug]), _fields(server.url, api_key_env=name)
        )
    assert response.status_code == 400
    assert not ModelEndpoint.objects.exists()


def test_the_key_never_appears_on_a_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_API_KEY", SECRET)
    project, pm = project_with_pm()
    with (
        model_server(Behaviour(token_delay=0, api_key=SECRET)) as server,
        bind_key("VLLM_API_KEY", server_host(server)),
    ):
        ep = endpoint(project, server.url, api_key_env="VLLM_API_KEY")
        client = _client(pm)
        pages = [
            client.get(reverse("dynamic:endpoints", args=[project.slug])),
            client.get(reverse("dynamic:endpoint_edit", args=[project.slug, ep.pk])),
            client.post(reverse("dynamic:endpoint_test", args=[project.slug, ep.pk]), **HTMX),
            client.post(reverse("dynamic:endpoint_test", args=[project.slug, ep.pk])),
        ]
        assert server.behaviour.seen_keys == [f"Bearer {SECRET}", f"Bearer {SECRET}"]  # it was used...
    for page in pages:
        assert page.status_code == 200
        assert SECRET not in page.content.decode()  # ...and never shown
    assert "VLLM_API_KEY" in pages[0].content.decode()
    assert ">set<" in pages[0].content.decode()


def test_test_connection_shows_latency_and_the_reply() -> None:
    project, pm = project_with_pm()
    with model_server() as server:
        ep = endpoint(project, server.url)
        response = _client(pm).post(reverse("dynamic:endpoint_test", args=[project.slug, ep.pk]), **HTMX)
    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith('<div id="test-result"')
    assert "Connected in" in content
    assert 'id="test-reply"' in content


def test_test_connection_shows_the_exact_error() -> None:
    project, pm = project_with_pm()
    with model_server(Behaviour(error_status=502, error_body="bad gateway <b>upstream</b>")) as server:
        ep = endpoint(project, server.url)
        response = _client(pm).post(reverse("dynamic:endpoint_test", args=[project.slug, ep.pk]), **HTMX)
    content = response.content.decode()
    assert "HTTP 502" in content
    assert "bad gateway &lt;b&gt;upstream&lt;/b&gt;" in content  # exact, and escaped


def test_a_pm_edits_an_endpoint() -> None:
    project, pm = project_with_pm()
    with model_server() as server, bind_key("VLLM_API_KEY", server_host(server)):
        ep = endpoint(project, server.url)
        response = _client(pm).post(
            reverse("dynamic:endpoint_edit", args=[project.slug, ep.pk]),
            _fields(server.url, name="renamed", is_active=""),
        )
    assert response.status_code == 302
    ep.refresh_from_db()
    assert ep.name == "renamed"
    assert not ep.is_active


def test_names_are_unique_in_a_project() -> None:
    project, pm = project_with_pm()
    with model_server() as server:
        endpoint(project, server.url, name="taken")
        response = _client(pm).post(
            reverse("dynamic:endpoint_create", args=[project.slug]), _fields(server.url, name="taken")
        )
    assert response.status_code == 400
    assert ModelEndpoint.objects.count() == 1


def test_outsiders_get_404_and_annotators_403() -> None:
    project, _pm = project_with_pm()
    with model_server() as server:
        ep = endpoint(project, server.url)
    urls = [
        reverse("dynamic:endpoints", args=[project.slug]),
        reverse("dynamic:endpoint_create", args=[project.slug]),
        reverse("dynamic:endpoint_edit", args=[project.slug, ep.pk]),
    ]
    for url in urls:
        assert _client(outsider()).get(url).status_code == 404
        assert _client(member(project, Role.ANNOTATOR)).get(url).status_code == 403
        assert _client(member(project, Role.REVIEWER)).get(url).status_code == 403
    test_url = reverse("dynamic:endpoint_test", args=[project.slug, ep.pk])
    assert _client(outsider()).post(test_url).status_code == 404
    assert _client(member(project, Role.ANNOTATOR)).post(test_url).status_code == 403


def test_another_projects_endpoint_is_a_404() -> None:
    project, pm = project_with_pm()
    other, _ = project_with_pm()
    with model_server() as server:
        theirs = endpoint(other, server.url)
    assert _client(pm).get(reverse("dynamic:endpoint_edit", args=[project.slug, theirs.pk])).status_code == 404
    assert _client(pm).post(reverse("dynamic:endpoint_test", args=[project.slug, theirs.pk])).status_code == 404


def test_wrong_methods_are_405() -> None:
    project, pm = project_with_pm()
    with model_server() as server:
        ep = endpoint(project, server.url)
    client = _client(pm)
    assert client.post(reverse("dynamic:endpoints", args=[project.slug])).status_code == 405
    assert client.get(reverse("dynamic:endpoint_test", args=[project.slug, ep.pk])).status_code == 405
