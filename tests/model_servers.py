"""Real OpenAI-compatible HTTP servers for dynamic-labeling tests (no mocked HTTP client): the
demo replay model on an ephemeral loopback port, well-behaved, slow, or failing mid-stream
(``dynamic.demo_model.Behaviour``), and a dynamic stream wired to it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.test import override_settings

from dynamic.demo_model import Behaviour, DemoModelServer, ReplayCorpus, load_corpus
from dynamic.models import ModelEndpoint, StreamEndpoint
from projects.models import Project, Stream
from quorum.env import parse_endpoint_keys
from tests.factories import StreamFactory

GPT, MIXTRAL = "demo-replay-gpt4-turbo", "demo-replay-mixtral"


@lru_cache(maxsize=1)
def corpus() -> ReplayCorpus:
    loaded = load_corpus(settings.QUORUM_DEMO_DATA_DIR)
    loaded.nearest("warm up")
    return loaded


@contextmanager
def model_server(behaviour: Behaviour | None = None, *, allow: bool = True) -> Iterator[DemoModelServer]:
    """A demo model server on 127.0.0.1:<free port>, allowed by the SSRF guard (``allow``) for
    the duration."""
    server = DemoModelServer(("127.0.0.1", 0), corpus(), behaviour or Behaviour(token_delay=0.0))
    server.start()
    try:
        if allow:
            with override_settings(QUORUM_ENDPOINT_ALLOWED_HOSTS=[f"127.0.0.1:{server.server_address[1]}"]):
                yield server
        else:
            yield server
    finally:
        server.shutdown()
        server.server_close()


def bind_key(name: str, *hosts: str) -> Any:
    """``override_settings`` binding key variable ``name`` to ``hosts`` (``QUORUM_ENDPOINT_KEYS``
    syntax, e.g. ``"127.0.0.1:8001"`` or ``"127.0.0.1:8001@project-slug"``)."""
    keys = parse_endpoint_keys("QUORUM_ENDPOINT_KEYS", f"{name}={','.join(hosts)}")
    return override_settings(QUORUM_ENDPOINT_KEYS=keys)


def server_host(server: DemoModelServer) -> str:
    return f"127.0.0.1:{server.server_address[1]}"


def endpoint(project: Project, url: str, *, name: str = "gpt", model: str = GPT, **fields: Any) -> ModelEndpoint:
    return ModelEndpoint.objects.create(project=project, name=name, base_url=url, model=model, **fields)


def dynamic_stream(url: str, *, max_turns: int = 3, urls: tuple[str, str] | None = None, **fields: Any) -> Stream:
    """An active dynamic stream with two endpoints (GPT and Mixtral replays) at ``url``."""
    stream: Stream = StreamFactory.create(mode=Stream.Mode.DYNAMIC, max_turns=max_turns, overlap=1, **fields)
    first, second = urls or (url, url)
    for name, model, at in (("gpt", GPT, first), ("mixtral", MIXTRAL, second)):
        StreamEndpoint.objects.create(
            stream=stream, endpoint=endpoint(stream.project, at, name=name, model=model, timeout_seconds=10)
        )
    return stream
