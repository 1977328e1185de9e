"""The demo's live-chat endpoints ask for enough tokens that the replay model never cuts an
answer off: checked on the replay's own data and through the real replay server."""

from __future__ import annotations

import pytest

from demo.management.commands.load_demo import DEMO_ENDPOINTS, DEMO_MAX_TOKENS, Command
from dynamic import llm
from dynamic.demo_model import _TOKEN, MODELS
from dynamic.models import ModelEndpoint
from tests.factories import ProjectFactory
from tests.model_servers import corpus, model_server

pytestmark = pytest.mark.django_db


def _longest() -> tuple[str, str, int]:
    """(model, instruction, tokens) of the longest answer the replay can give."""
    return max(
        ((model, row["instruction"], len(_TOKEN.findall(row[column]))) for model, (column, _) in MODELS.items()
         for row in corpus().rows),
        key=lambda found: found[2],
    )  # fmt: skip


def test_the_limit_exceeds_the_longest_demo_answer() -> None:
    model, _instruction, tokens = _longest()
    assert (model, tokens) == ("demo-replay-mixtral", 2481)
    assert tokens < DEMO_MAX_TOKENS


def test_the_longest_answer_arrives_whole_through_the_replay_server() -> None:
    model, instruction, tokens = _longest()
    project = ProjectFactory.create()
    with model_server() as server:
        endpoint = ModelEndpoint.objects.create(
            project=project, name="m", base_url=server.url, model=model, parameters={"max_tokens": DEMO_MAX_TOKENS}
        )
        result = llm.stream_chat(endpoint, [{"role": "user", "content": instruction}])
        cut = llm.stream_chat(endpoint, [{"role": "user", "content": instruction}], overrides={"max_tokens": 400})
    assert (result.finish_reason, result.completion_tokens) == ("stop", tokens)
    assert result.text == corpus().answer(model, instruction)
    assert (cut.finish_reason, cut.completion_tokens) == ("length", 400)  # the old limit cut it


def test_load_demo_raises_the_limit_of_endpoints_loaded_before() -> None:
    project = ProjectFactory.create()
    name, model = DEMO_ENDPOINTS[0]
    old = ModelEndpoint.objects.create(
        project=project, name=name, base_url="http://127.0.0.1:8001/v1", model=model,
        parameters={"temperature": 0.7, "max_tokens": 400},
    )  # fmt: skip
    stream = Command()._dynamic_stream(project)
    old.refresh_from_db()
    assert old.parameters == {"temperature": 0.7, "max_tokens": DEMO_MAX_TOKENS}
    assert {e.parameters["max_tokens"] for e in stream.endpoints.all()} == {DEMO_MAX_TOKENS}
