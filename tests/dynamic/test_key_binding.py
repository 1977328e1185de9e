"""Model API keys go only where the operator bound them (``QUORUM_ENDPOINT_KEYS``): tested with
real HTTP listeners that record every Authorization header they receive — through "Test
connection", through a generation, and through a redirect to a host the key is not bound to."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings
from django.urls import reverse

from dynamic import llm
from dynamic import services as dynamic
from dynamic import tasks as dynamic_tasks
from dynamic.demo_model import Behaviour, DemoModelServer
from dynamic.models import Generation, ModelEndpoint
from quorum.env import EndpointKey, parse_endpoint_keys
from tests.annotation.conftest import make_annotator
from tests.model_servers import GPT, corpus, dynamic_stream, endpoint
from tests.projects.web_helpers import project_with_pm

pytestmark = pytest.mark.django_db
SECRET = "sk-operator-key-DO-NOT-LEAK-7331"


def _keys(raw: str) -> dict[str, EndpointKey]:
    return parse_endpoint_keys("QUORUM_ENDPOINT_KEYS", raw)


# --- The setting ---------------------------------------------------------------------------------
def test_it_parses_hosts_ports_and_projects() -> None:
    keys = _keys("OPENAI_API_KEY=api.openai.com; VLLM_API_KEY=vllm.internal:8000,[::1]:9000@research,eval-2")
    assert keys["OPENAI_API_KEY"].hosts == (("api.openai.com", None),)
    assert keys["OPENAI_API_KEY"].projects is None
    assert keys["VLLM_API_KEY"].hosts == (("vllm.internal", 8000), ("::1", 9000))
    assert keys["VLLM_API_KEY"].projects == frozenset({"research", "eval-2"})
    openai_key = keys["OPENAI_API_KEY"]
    assert openai_key.allows_host("api.openai.com", None, "https")
    assert openai_key.allows_host("API.OpenAI.com.", 443, "https")
    assert not openai_key.allows_host("api.openai.com", 8443, "https")  # no port given: the default only
    assert not openai_key.allows_host("api.openai.com.evil.example", None, "https")
    assert keys["VLLM_API_KEY"].allows_host("vllm.internal", 8000, "http")
    assert not keys["VLLM_API_KEY"].allows_host("vllm.internal", 8001, "http")
    assert not keys["VLLM_API_KEY"].allows_project("other")


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("OPENAI_API_KEY", "NAME=host"),
        ("SECRET_KEY=api.openai.com", "ending in _API_KEY"),
        ("OPENAI_API_KEY=", "no host"),
        ("OPENAI_API_KEY=https://api.openai.com", "not a host or host:port"),
        ("OPENAI_API_KEY=api.openai.com/v1", "not a host or host:port"),
        ("OPENAI_API_KEY=api.openai.com:http", "not a host or host:port"),
        ("OPENAI_API_KEY=api.openai.com:70000", "outside 1–65535"),
        ("OPENAI_API_KEY=api.openai.com@", "project slugs"),
        ("OPENAI_API_KEY=api.openai.com@a b", "project slugs"),
        ("OPENAI_API_KEY=a.com;OPENAI_API_KEY=b.com", "listed twice"),
    ],
)
def test_a_malformed_value_fails_at_startup_naming_the_variable(raw: str, says: str) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        _keys(raw)
    assert "QUORUM_ENDPOINT_KEYS" in str(caught.value)
    assert says in str(caught.value)


# --- Real listeners ------------------------------------------------------------------------------
class _Recorder(BaseHTTPRequestHandler):
    """Answers every request with ``server.status`` (and ``server.location``), recording the
    Authorization header it received."""

    server: _RecordingServer

    def do_POST(self) -> None:
        self.server.seen.append(self.headers.get("Authorization", ""))
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(self.server.status)
        if self.server.location:
            self.send_header("Location", self.server.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _RecordingServer(ThreadingHTTPServer):
    def __init__(self, status: int, location: str = "") -> None:
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.status = status
        self.location = location
        self.seen: list[str] = []

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


@contextmanager
def _listening(server: ThreadingHTTPServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _model(behaviour: Behaviour | None = None) -> Iterator[DemoModelServer]:
    server = DemoModelServer(("127.0.0.1", 0), corpus(), behaviour or Behaviour(token_delay=0.0))
    with _listening(server):
        yield server


def _host(server: Any) -> str:
    return f"127.0.0.1:{server.server_address[1]}"


@contextmanager
def _setup(monkeypatch: pytest.MonkeyPatch, keys: str, *allowed: str) -> Iterator[None]:
    monkeypatch.setenv("VLLM_API_KEY", SECRET)
    monkeypatch.setenv("OTHER_API_KEY", SECRET)
    with override_settings(QUORUM_ENDPOINT_ALLOWED_HOSTS=list(allowed), QUORUM_ENDPOINT_KEYS=_keys(keys)):
        yield


def _pm_client(pm: Any) -> Client:
    client = Client()
    client.force_login(pm)
    return client


def test_test_connection_sends_the_key_to_its_bound_host(monkeypatch: pytest.MonkeyPatch) -> None:
    project, pm = project_with_pm()
    with (
        _model(Behaviour(token_delay=0, api_key=SECRET)) as bound,
        _setup(monkeypatch, f"VLLM_API_KEY={_host(bound)}", _host(bound)),
    ):
        ep = endpoint(project, bound.url, api_key_env="VLLM_API_KEY")
        response = _pm_client(pm).post(reverse("dynamic:endpoint_test", args=[project.slug, ep.pk]))
    assert response.status_code == 200
    assert response.context["report"].ok
    assert bound.behaviour.seen_keys == [f"Bearer {SECRET}"]


def test_test_connection_never_sends_the_key_to_an_unbound_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """The endpoint was saved before the operator narrowed the binding (or in the database
    directly): the call is refused before any connection, and the listener gets nothing."""
    project, pm = project_with_pm()
    attacker = _RecordingServer(200)
    with _listening(attacker), _setup(monkeypatch, "VLLM_API_KEY=vllm.internal:8000", attacker.host):
        ep = endpoint(project, f"http://{attacker.host}/v1", api_key_env="VLLM_API_KEY")
        response = _pm_client(pm).post(reverse("dynamic:endpoint_test", args=[project.slug, ep.pk]))
    report = response.context["report"]
    assert not report.ok
    assert "VLLM_API_KEY may only be sent to vllm.internal:8000" in report.error
    assert attacker.seen == []
    assert SECRET not in response.content.decode()


def test_a_key_not_listed_by_the_operator_is_never_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    project, pm = project_with_pm()
    with _model() as listener, _setup(monkeypatch, f"VLLM_API_KEY={_host(listener)}", _host(listener)):
        ep = endpoint(project, listener.url, api_key_env="OTHER_API_KEY")
        response = _pm_client(pm).post(reverse("dynamic:endpoint_test", args=[project.slug, ep.pk]))
    assert "has not made OTHER_API_KEY available to this project" in response.context["report"].error
    assert listener.behaviour.seen_keys == []


def test_a_key_bound_to_other_projects_is_not_sent_for_this_one(monkeypatch: pytest.MonkeyPatch) -> None:
    project, pm = project_with_pm()
    with _model() as listener, _setup(monkeypatch, f"VLLM_API_KEY={_host(listener)}@someone-else", _host(listener)):
        ep = endpoint(project, listener.url, api_key_env="VLLM_API_KEY")
        response = _pm_client(pm).post(reverse("dynamic:endpoint_test", args=[project.slug, ep.pk]))
    assert "not made VLLM_API_KEY available to this project" in response.context["report"].error
    assert listener.behaviour.seen_keys == []


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_another_host_drops_the_key(monkeypatch: pytest.MonkeyPatch, status: int) -> None:
    """The bound host answers with a redirect to a listener on another host:port (allowed by the
    SSRF guard, not bound to the key): the key reaches the bound host and never the other."""
    project, pm = project_with_pm()
    with _model() as elsewhere:
        bound = _RecordingServer(status, location=f"{elsewhere.url}/chat/completions")
        with _listening(bound), _setup(monkeypatch, f"VLLM_API_KEY={bound.host}", bound.host, _host(elsewhere)):
            ep = endpoint(project, f"http://{bound.host}/v1", api_key_env="VLLM_API_KEY")
            _pm_client(pm).post(reverse("dynamic:endpoint_test", args=[project.slug, ep.pk]))
    assert bound.seen == [f"Bearer {SECRET}"]
    assert len(elsewhere.behaviour.seen_keys) == (1 if status in (307, 308) else 0)  # 301/302 turn POST into GET
    assert all(SECRET not in header for header in elsewhere.behaviour.seen_keys)


def test_a_redirect_to_another_port_of_the_same_host_drops_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with _model() as elsewhere:
        bound = _RecordingServer(307, location=f"{elsewhere.url}/chat/completions")
        with _listening(bound), _setup(monkeypatch, f"VLLM_API_KEY={bound.host}", bound.host, _host(elsewhere)):
            result = llm.stream_chat(
                ModelEndpoint(name="t", base_url=f"http://{bound.host}/v1", model=GPT, api_key_env="VLLM_API_KEY"),
                [{"role": "user", "content": "hi"}],
            )
    assert result.finish_reason == "stop"  # the redirect was followed, without the key
    assert bound.seen == [f"Bearer {SECRET}"]
    assert elsewhere.behaviour.seen_keys == [""]


def test_a_generation_never_sends_the_key_to_an_unbound_host(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    with _model() as listener, _setup(monkeypatch, "VLLM_API_KEY=vllm.internal:8000", _host(listener)):
        stream = dynamic_stream(listener.url)
        stream.endpoints.update(api_key_env="VLLM_API_KEY")
        alice = make_annotator(stream, "alice")
        with django_capture_on_commit_callbacks(execute=True):
            turn = dynamic.send_message(stream=stream, annotator=alice, text="Hello there")
            dynamic_tasks.queue_turn(turn.pk)
    generations = list(Generation.objects.filter(turn=turn))
    assert [g.status for g in generations] == [Generation.Status.ERROR] * 2
    assert all("may only be sent to vllm.internal:8000" in g.error_detail for g in generations)
    assert listener.behaviour.seen_keys == []


def test_a_generation_via_a_redirect_sends_the_key_only_to_the_bound_host(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    with _model() as elsewhere:
        bound = _RecordingServer(307, location=f"{elsewhere.url}/chat/completions")
        with _listening(bound), _setup(monkeypatch, f"VLLM_API_KEY={bound.host}", bound.host, _host(elsewhere)):
            stream = dynamic_stream(f"http://{bound.host}/v1")
            stream.endpoints.update(api_key_env="VLLM_API_KEY")
            alice = make_annotator(stream, "alice")
            with django_capture_on_commit_callbacks(execute=True):
                turn = dynamic.send_message(stream=stream, annotator=alice, text="Hello there")
                dynamic_tasks.queue_turn(turn.pk)
    assert [g.status for g in Generation.objects.filter(turn=turn)] == [Generation.Status.DONE] * 2
    assert bound.seen == [f"Bearer {SECRET}"] * 2
    assert elsewhere.behaviour.seen_keys == ["", ""]


# --- Saving --------------------------------------------------------------------------------------
def _fields(url: str, key: str) -> dict[str, Any]:
    return {"name": "probe", "base_url": url, "model": GPT, "api_key_env": key, "timeout_seconds": "30"}


def test_saving_a_key_with_an_unbound_host_is_refused_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    project, pm = project_with_pm()
    with _model() as listener, _setup(monkeypatch, "VLLM_API_KEY=vllm.internal:8000", _host(listener)):
        response = _pm_client(pm).post(
            reverse("dynamic:endpoint_create", args=[project.slug]), _fields(listener.url, "VLLM_API_KEY")
        )
    assert response.status_code == 400
    assert "VLLM_API_KEY may only be sent to vllm.internal:8000" in response.content.decode()
    assert not ModelEndpoint.objects.exists()
    assert listener.behaviour.seen_keys == []


def test_saving_a_key_the_operator_did_not_list_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    project, pm = project_with_pm()
    with _model() as listener, _setup(monkeypatch, f"VLLM_API_KEY={_host(listener)}", _host(listener)):
        response = _pm_client(pm).post(
            reverse("dynamic:endpoint_create", args=[project.slug]), _fields(listener.url, "OPENAI_API_KEY")
        )
    assert response.status_code == 400
    assert "has not made OPENAI_API_KEY available to this project (keys available here: VLLM_API_KEY)" in (
        response.content.decode()
    )
    assert not ModelEndpoint.objects.exists()


def test_the_form_lists_the_keys_available_to_this_project_only(monkeypatch: pytest.MonkeyPatch) -> None:
    project, pm = project_with_pm()
    keys = f"OPENAI_API_KEY=api.openai.com;VLLM_API_KEY=vllm.internal:8000@{project.slug};OTHER_API_KEY=x.org@elsewhere"
    with _setup(monkeypatch, keys):
        page = _pm_client(pm).get(reverse("dynamic:endpoint_create", args=[project.slug])).content.decode()
    assert "OPENAI_API_KEY (sent only to api.openai.com)" in page
    assert "VLLM_API_KEY (sent only to vllm.internal:8000)" in page
    assert "OTHER_API_KEY" not in page
    assert SECRET not in page
