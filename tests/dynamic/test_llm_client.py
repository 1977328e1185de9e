"""The model client against real OpenAI-compatible servers over HTTP: streaming chunks,
finish_reason, usage, the key from the environment, timeouts, errors mid-stream."""

from __future__ import annotations

from itertools import pairwise

import pytest
from django.test import override_settings

from dynamic import llm
from dynamic.demo_model import Behaviour
from dynamic.models import ModelEndpoint
from tests.model_servers import GPT, MIXTRAL, bind_key, corpus, model_server, server_host

QUESTION = "What are the names of some famous actors that started their careers on Broadway?"


def _endpoint(url: str, model: str = GPT, **fields: object) -> ModelEndpoint:
    fields.setdefault("timeout_seconds", 10)
    return ModelEndpoint(name="t", base_url=url, model=model, **fields)


def test_it_streams_the_answer_with_finish_reason_and_usage(db: None) -> None:
    seen: list[str] = []
    with model_server() as server:
        result = llm.stream_chat(
            _endpoint(server.url, MIXTRAL), [{"role": "user", "content": QUESTION}], on_text=seen.append
        )
    expected = corpus().answer(MIXTRAL, QUESTION)
    assert result.text == expected
    assert result.finish_reason == "stop"
    assert result.completion_tokens == len(expected.split())
    assert result.prompt_tokens == len(QUESTION.split())
    assert len(seen) > 10  # token by token, each call with the text so far
    assert seen[-1] == expected
    assert all(later.startswith(earlier) for earlier, later in pairwise(seen))


def test_it_sends_the_system_prompt_and_parameters(db: None) -> None:
    with model_server() as server:
        result = llm.stream_chat(
            _endpoint(server.url, parameters={"max_tokens": 5, "temperature": 0.2}, system_prompt="Be brief."),
            [{"role": "user", "content": QUESTION}],
        )
    assert result.finish_reason == "length"
    assert result.completion_tokens == 5
    assert result.prompt_tokens == len(QUESTION.split()) + 2  # "Be brief." counted


def test_it_sends_the_key_from_the_named_environment_variable(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_TEST_API_KEY", "sk-test-123")
    with (
        model_server(Behaviour(token_delay=0, api_key="sk-test-123")) as server,
        bind_key("DEMO_TEST_API_KEY", server_host(server)),
    ):
        result = llm.stream_chat(
            _endpoint(server.url, api_key_env="DEMO_TEST_API_KEY"), [{"role": "user", "content": "hi"}]
        )
        assert server.behaviour.seen_keys == ["Bearer sk-test-123"]
    assert result.finish_reason == "stop"


def test_a_missing_key_variable_is_a_configuration_error(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISSING_TEST_API_KEY", raising=False)
    with (
        model_server() as server,
        bind_key("MISSING_TEST_API_KEY", server_host(server)),
        pytest.raises(llm.GenerationError) as caught,
    ):
        llm.stream_chat(_endpoint(server.url, api_key_env="MISSING_TEST_API_KEY"), [{"role": "user", "content": "hi"}])
    assert "MISSING_TEST_API_KEY is not set" in caught.value.detail
    assert "MISSING_TEST_API_KEY" not in caught.value.message


def test_an_error_mid_stream_is_an_error_not_a_short_answer(db: None) -> None:
    seen: list[str] = []
    with model_server(Behaviour(token_delay=0, fail_after=4)) as server, pytest.raises(llm.GenerationError) as caught:
        llm.stream_chat(_endpoint(server.url), [{"role": "user", "content": QUESTION}], on_text=seen.append)
    assert caught.value.message == "The model stopped with an error in the middle of its answer."
    assert "crashed mid-stream" in caught.value.detail
    assert caught.value.transient
    assert len(seen) == 4


def test_a_stream_that_just_stops_is_an_error(db: None) -> None:
    with (
        model_server(Behaviour(token_delay=0, disconnect_after=3)) as server,
        pytest.raises(llm.GenerationError) as caught,
    ):
        llm.stream_chat(_endpoint(server.url), [{"role": "user", "content": QUESTION}])
    assert caught.value.message == "The model's answer was cut off (the stream ended early)."


def test_a_slow_model_times_out_on_the_whole_answer(db: None) -> None:
    # Every token arrives within the read timeout, but the whole answer would take minutes.
    with model_server(Behaviour(token_delay=0.3)) as server, pytest.raises(llm.GenerationError) as caught:
        llm.stream_chat(_endpoint(server.url, timeout_seconds=1), [{"role": "user", "content": QUESTION}])
    assert caught.value.message == "The model did not finish within 1 s."


def test_a_model_that_never_starts_times_out(db: None) -> None:
    with (
        model_server(Behaviour(token_delay=0, first_token_delay=3)) as server,
        pytest.raises(llm.GenerationError) as caught,
    ):
        llm.stream_chat(_endpoint(server.url, timeout_seconds=1), [{"role": "user", "content": QUESTION}])
    assert caught.value.message == "The model did not answer within 1 s."


def test_an_upstream_error_body_is_for_pms_only(db: None) -> None:
    with model_server(Behaviour(error_status=500)) as server, pytest.raises(llm.GenerationError) as caught:
        llm.stream_chat(_endpoint(server.url), [{"role": "user", "content": "hi"}])
    assert caught.value.message == "The model endpoint answered with an error (HTTP 500)."
    assert "secret_path" not in caught.value.message
    assert "secret_path" in caught.value.detail  # the PM sees the exact error


def test_a_refused_connection_is_reported(db: None) -> None:
    with model_server() as server:
        url = server.url  # nothing listens there once the block ends
    with override_settings(QUORUM_ENDPOINT_ALLOWED_HOSTS=["127.0.0.1"]), pytest.raises(llm.GenerationError) as caught:
        llm.stream_chat(_endpoint(url), [{"role": "user", "content": "hi"}])
    assert caught.value.message == "Could not reach the model endpoint."
    assert caught.value.transient


def test_check_connection_reports_latency_and_reply(db: None) -> None:
    with model_server() as server:
        report = llm.check_connection(_endpoint(server.url))
    assert report.ok
    assert report.result is not None
    assert report.result.text
    assert report.latency_ms >= 0


def test_check_connection_reports_the_exact_error(db: None) -> None:
    with model_server(Behaviour(error_status=503, error_body="overloaded: queue full")) as server:
        report = llm.check_connection(_endpoint(server.url))
    assert not report.ok
    assert "HTTP 503" in report.error
    assert "overloaded: queue full" in report.error
