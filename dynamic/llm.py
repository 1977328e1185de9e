"""Talking to model endpoints: OpenAI-compatible chat completions (vLLM, TGI, Ollama, llama.cpp
server, OpenAI...) through the ``openai`` client, over an HTTP client whose every connection passes
the SSRF guard (``dynamic.netguard``).

Errors come back as ``GenerationError`` with two texts: ``message`` is safe to show anyone (no
upstream body, no address), ``detail`` is the exact error for PMs (test connection, the endpoint
page). The API key is read from the environment variable the endpoint names, at call time; it is
never stored, logged or put in an error, and it is sent only where the operator bound it
(``dynamic.keys``: the variable listed in ``QUORUM_ENDPOINT_KEYS`` for this project, and only on
requests — redirects included — to the hosts bound to it).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import openai
from django.conf import settings
from openai.types.chat import ChatCompletionChunk

from dynamic import keys, netguard
from dynamic.models import ModelEndpoint

# Parameters a PM may set on an endpoint, passed to the API as they are.
PARAMETERS: dict[str, type] = {"temperature": float, "top_p": float, "max_tokens": int}
KEY_ENV_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]*_API_KEY$")
DETAIL_LIMIT = 2000
TEST_PROMPT = "Reply with one short sentence: which model are you?"


class GenerationError(Exception):
    """A generation that failed. ``message`` is for annotators, ``detail`` for PMs;
    ``transient`` errors (connection, timeout, 429/5xx) are worth retrying."""

    def __init__(self, message: str, *, detail: str = "", transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.detail = (detail or message)[:DETAIL_LIMIT]
        self.transient = transient


@dataclass(frozen=True)
class ChatResult:
    text: str
    finish_reason: str
    prompt_tokens: int | None
    completion_tokens: int | None
    first_token_ms: int | None
    latency_ms: int


def api_key_for(endpoint: ModelEndpoint) -> str:
    """The key from the environment, or a placeholder for servers that take none (vLLM, Ollama)."""
    if not endpoint.api_key_env:
        return "no-key"
    problem = keys.key_problem(endpoint.api_key_env, project_slug=_project_slug(endpoint), base_url=endpoint.base_url)
    if problem:
        raise GenerationError(
            "This model endpoint is not configured correctly; your project manager has been told.", detail=problem
        )
    value = os.environ.get(endpoint.api_key_env, "")
    if not value:
        raise GenerationError(
            "This model endpoint is not configured correctly; your project manager has been told.",
            detail=f"The environment variable {endpoint.api_key_env} is not set in the process that calls the model.",
        )
    return value


def _project_slug(endpoint: ModelEndpoint) -> str:
    return endpoint.project.slug if endpoint.project_id else ""


def request_messages(endpoint: ModelEndpoint, messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The endpoint's system prompt (if any) followed by the conversation."""
    system = [{"role": "system", "content": endpoint.system_prompt}] if endpoint.system_prompt.strip() else []
    return system + [{"role": m["role"], "content": m["content"]} for m in messages]


def request_parameters(endpoint: ModelEndpoint) -> dict[str, Any]:
    params = endpoint.parameters or {}
    return {name: kind(params[name]) for name, kind in PARAMETERS.items() if params.get(name) not in (None, "")}


def _client(endpoint: ModelEndpoint, timeout_seconds: float) -> openai.OpenAI:
    timeout = httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, settings.QUORUM_ENDPOINT_CONNECT_TIMEOUT))
    api_key = api_key_for(endpoint)
    http_client = netguard.guarded_client(
        timeout=timeout,
        max_bytes=settings.QUORUM_ENDPOINT_MAX_RESPONSE_BYTES,
        key=keys.binding(endpoint.api_key_env) if endpoint.api_key_env else None,
    )
    return openai.OpenAI(
        base_url=endpoint.base_url.rstrip("/"),
        api_key=api_key,
        http_client=http_client,
        max_retries=0,  # retries are the caller's decision, visible to the annotator
        timeout=timeout,
    )


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def translate_error(exc: BaseException, *, timeout_seconds: float) -> GenerationError:
    """An exception from the client as a ``GenerationError`` (safe message + PM detail)."""
    if isinstance(exc, GenerationError):
        return exc
    unsafe = _cause(exc, netguard.UnsafeEndpoint)
    if unsafe is not None:
        return GenerationError("This model endpoint's address is not allowed.", detail=str(unsafe))
    too_large = _cause(exc, netguard.ResponseTooLarge)
    if too_large is not None:
        return GenerationError("The model's answer was too large and was cut off.", detail=str(too_large))
    if isinstance(exc, openai.APIStatusError):
        body = ""
        try:
            body = exc.response.text
        except (httpx.HTTPError, netguard.ResponseTooLarge, UnicodeDecodeError):
            body = "(body unreadable)"
        code = exc.status_code
        return GenerationError(
            f"The model endpoint answered with an error (HTTP {code}).",
            detail=f"HTTP {code} from {exc.request.url}: {body[:DETAIL_LIMIT]}",
            transient=code == 429 or code >= 500,
        )
    if isinstance(exc, openai.APITimeoutError) or _cause(exc, httpx.TimeoutException) is not None:
        return GenerationError(
            f"The model did not answer within {timeout_seconds:.0f} s.",
            detail=f"Timed out ({type(_cause(exc, httpx.TimeoutException) or exc).__name__}).",
            transient=True,
        )
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        return GenerationError(
            "Could not reach the model endpoint.",
            detail=f"Connection failed: {type(cause).__name__ if cause else 'error'}: {cause or exc}",
            transient=True,
        )
    if isinstance(exc, openai.APIError):
        # An error event in the middle of a stream (vLLM, OpenAI send {"error": {...}}).
        return GenerationError(
            "The model stopped with an error in the middle of its answer.",
            detail=f"Error in the stream: {exc.message}",
            transient=True,
        )
    if isinstance(exc, httpx.HTTPError):
        return GenerationError(
            "The connection to the model broke in the middle of its answer.",
            detail=f"{type(exc).__name__}: {exc}",
            transient=True,
        )
    return GenerationError("The model endpoint failed.", detail=f"{type(exc).__name__}: {exc}")


def stream_chat(
    endpoint: ModelEndpoint,
    messages: list[dict[str, str]],
    *,
    on_text: Callable[[str], None] | None = None,
    timeout_seconds: float | None = None,
    overrides: dict[str, Any] | None = None,
) -> ChatResult:
    """Streams one chat completion. ``on_text`` gets the whole text so far after each chunk.
    The whole answer must arrive within the endpoint's timeout (not only each read), and must
    end with a ``finish_reason``: a stream that stops without one was cut and is an error.
    Raises ``GenerationError``."""
    timeout = float(timeout_seconds or endpoint.timeout_seconds)
    started = time.monotonic()
    deadline = started + timeout
    first_token_ms: int | None = None
    parts: list[str] = []
    finish_reason = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    try:
        netguard.check_url(endpoint.base_url)
        client = _client(endpoint, timeout)
        with client:
            # The parameters are a PM's free choice (a dict), which the client's typed overloads
            # cannot check; the stream it returns is typed below.
            completions: Any = client.chat.completions
            stream: openai.Stream[ChatCompletionChunk] = completions.create(
                model=endpoint.model,
                messages=request_messages(endpoint, messages),
                stream=True,
                stream_options={"include_usage": True},
                **{**request_parameters(endpoint), **(overrides or {})},
            )
            with stream:
                for chunk in stream:
                    if chunk.usage is not None:
                        prompt_tokens = chunk.usage.prompt_tokens
                        completion_tokens = chunk.usage.completion_tokens
                    for choice in chunk.choices[:1]:
                        delta = choice.delta.content if choice.delta else None
                        if delta:
                            if first_token_ms is None:
                                first_token_ms = int((time.monotonic() - started) * 1000)
                            parts.append(delta)
                            if on_text is not None:
                                on_text("".join(parts))
                        if choice.finish_reason:
                            finish_reason = str(choice.finish_reason)
                    if time.monotonic() > deadline:
                        raise GenerationError(
                            f"The model did not finish within {timeout:.0f} s.",
                            detail=f"Still streaming after {timeout:.0f} s ({len(parts)} chunks received).",
                            transient=True,
                        )
    except Exception as exc:  # an unsafe address too: translate_error knows each kind
        raise translate_error(exc, timeout_seconds=timeout) from exc
    if not finish_reason:
        raise GenerationError(
            "The model's answer was cut off (the stream ended early).",
            detail=f"The stream ended without a finish_reason after {len(parts)} chunks.",
            transient=True,
        )
    return ChatResult(
        text="".join(parts),
        finish_reason=finish_reason,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        first_token_ms=first_token_ms,
        latency_ms=int((time.monotonic() - started) * 1000),
    )


@dataclass(frozen=True)
class ConnectionReport:
    ok: bool
    latency_ms: int
    result: ChatResult | None = None
    error: str = ""  # the exact error, for the PM who asked


def check_connection(endpoint: ModelEndpoint) -> ConnectionReport:
    """A short real request to the endpoint: latency and the reply, or the exact error."""
    started = time.monotonic()
    try:
        result = stream_chat(
            endpoint,
            [{"role": "user", "content": TEST_PROMPT}],
            timeout_seconds=min(endpoint.timeout_seconds, 30),
            overrides={"max_tokens": 64},
        )
    except GenerationError as exc:
        return ConnectionReport(ok=False, latency_ms=int((time.monotonic() - started) * 1000), error=exc.detail)
    return ConnectionReport(ok=True, latency_ms=result.latency_ms, result=result)
