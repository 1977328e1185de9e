"""``manage.py serve_demo_model`` as ``make run`` starts it: a real process answering the OpenAI
wire protocol on loopback, streaming and not."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from django.conf import settings

from dynamic.demo_model import JUDGE_MODEL
from tests.model_servers import GPT, MIXTRAL, corpus
from tests.processes import BASE_DIR, clean_environ, stop

QUESTION = "How do I make a good cup of coffee?"


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    env = clean_environ(
        DJANGO_SETTINGS_MODULE="quorum.settings", QUORUM_DEMO_DATA_DIR=str(settings.QUORUM_DEMO_DATA_DIR)
    )
    command = [
        sys.executable,
        "manage.py",
        "serve_demo_model",
        "--port",
        "0",
        "--token-delay",
        "0",
        "--first-token-delay",
        "0",
    ]
    process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline().decode()
        found = re.search(r"http://127\.0\.0\.1:\d+/v1", banner)
        assert found, banner
        assert "not a real model" in banner
        yield found.group(0)
    finally:
        stop(process)


def _post(url: str, body: dict[str, object]) -> bytes:
    request = urllib.request.Request(
        f"{url}/chat/completions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


def test_it_lists_its_models(served: str) -> None:
    with urllib.request.urlopen(f"{served}/models", timeout=30) as response:
        data = json.load(response)
    assert [m["id"] for m in data["data"]] == [GPT, MIXTRAL, JUDGE_MODEL]
    assert {m["owned_by"] for m in data["data"]} == {"quorum-demo-replay"}


def test_it_answers_without_streaming(served: str) -> None:
    body = json.loads(_post(served, {"model": GPT, "messages": [{"role": "user", "content": QUESTION}]}))
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == corpus().answer(GPT, QUESTION)
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] > 0


def test_it_streams_token_by_token(served: str) -> None:
    raw = _post(
        served,
        {
            "model": MIXTRAL,
            "messages": [{"role": "user", "content": QUESTION}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": 12,
        },
    ).decode()
    events = [line[len("data: ") :] for line in raw.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert len([c for c in contents if c]) == 12
    text = "".join(c or "" for c in contents)
    assert corpus().answer(MIXTRAL, QUESTION).startswith(text)
    assert len(text.split()) == 12
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 12


def test_it_refuses_an_unknown_model(served: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        _post(served, {"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]})
    assert caught.value.code == 404
