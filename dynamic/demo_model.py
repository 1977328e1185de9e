"""A demo *replay* model: an OpenAI-compatible HTTP server that answers from the AlpacaEval
outputs in the shared data, so dynamic labeling works offline (``manage.py serve_demo_model``)
and tests talk to a real server over real HTTP.

It is not a language model. For each request it finds the AlpacaEval instruction nearest to the
last user message (TF-IDF cosine similarity) and replays the answer of generator 1 (GPT-4 Turbo)
or generator 2 (Mixtral-8x7B), depending on the model asked for, word by word.

It also has a **heuristic demo judge** (model ``demo-heuristic-judge``), for the model judges of
``judging/``: given a judging prompt with ``[Response A]`` and ``[Response B]`` sections (the
default judge prompt's), it prefers the response that shares more words with the question, has
some substance and does not refuse, and answers ``Verdict: A|B|tie`` with a reason that says it is
a heuristic demo judge. On a close call it leans to the response shown first, as real judges
often do, so some of its verdicts change when the order is swapped.

Endpoints: ``GET /v1/models``; ``POST /v1/chat/completions`` with ``stream`` true (server-sent
events: role chunk, content chunks, a chunk with ``finish_reason``, a usage chunk when
``stream_options.include_usage``, ``[DONE]``) or false (one ``chat.completion``). ``max_tokens``
counts words. Options for tests: a delay per token and before the first one, an error event
after n tokens (``fail_after``), a stream that just stops (``disconnect_after``), an HTTP error
for every request (``error_status``), a required bearer key, a redirect elsewhere.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DATA_FILE = "alpacaeval_gpt4turbo_vs_mixtral.jsonl"
# Model id → (field of the AlpacaEval row, what it replays).
MODELS = {
    "demo-replay-gpt4-turbo": ("output_1", "GPT-4 Turbo answers from AlpacaEval, replayed"),
    "demo-replay-mixtral": ("output_2", "Mixtral-8x7B-Instruct answers from AlpacaEval, replayed"),
}
JUDGE_MODEL = "demo-heuristic-judge"
JUDGE_DESCRIPTION = "A heuristic demo judge (not a language model): word overlap, substance, refusals"
OWNER = "quorum-demo-replay"
_TOKEN = re.compile(r"\s*\S+")


class ReplayCorpus:
    """AlpacaEval instructions and their two answers, with a nearest-instruction lookup."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            raise ValueError("the replay corpus is empty")
        self.rows = rows

    @classmethod
    def from_file(cls, path: Path) -> ReplayCorpus:
        with path.open(encoding="utf-8") as fh:
            return cls([json.loads(line) for line in fh if line.strip()])

    @cached_property
    def _index(self) -> tuple[Any, Any]:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        matrix = vectorizer.fit_transform([row["instruction"] for row in self.rows])
        return vectorizer, matrix

    def nearest(self, query: str) -> dict[str, Any]:
        vectorizer, matrix = self._index
        scores = (matrix @ vectorizer.transform([query]).T).toarray().ravel()
        return self.rows[int(scores.argmax())]

    def answer(self, model: str, query: str) -> str:
        column = MODELS[model][0]
        return str(self.nearest(query)[column])


@dataclass
class Behaviour:
    """How the server misbehaves, for tests (defaults: a well-behaved fast model)."""

    token_delay: float = 0.02
    first_token_delay: float = 0.0
    fail_after: int | None = None  # send an error event after this many tokens
    disconnect_after: int | None = None  # close the stream after this many tokens, no finish
    error_status: int | None = None  # answer every completion with this HTTP status
    error_body: str = "upstream exploded: internal trace id 0xDEADBEEF at /srv/model/secret_path.py"
    api_key: str | None = None  # require "Authorization: Bearer <key>"
    redirect_to: str | None = None  # answer completions with a 307 to this URL
    error_times: int | None = None  # with error_status: fail only the first n completions
    omit_usage: bool = False  # never report token usage
    # The judge model's manner: "heuristic" (the demo judge), "first" (always the response shown
    # first: position bias), "longer" (always the longer response: consistent across the swap).
    judge: str = "heuristic"
    seen_keys: list[str] = field(default_factory=list)  # Authorization headers received
    errors_sent: int = 0
    completions: int = 0  # completion requests answered (errors included)


class DemoModelServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], corpus: ReplayCorpus, behaviour: Behaviour | None = None) -> None:
        super().__init__(address, _Handler)
        self.corpus = corpus
        self.behaviour = behaviour or Behaviour()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> threading.Thread:
        """Serves in a daemon thread (tests); ``shutdown()`` stops it."""
        thread = threading.Thread(target=self.serve_forever, name="demo-model", daemon=True)
        thread.start()
        return thread


def _last_user_message(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content", "")
            if isinstance(content, list):  # content parts
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content)
    return ""


class _Handler(BaseHTTPRequestHandler):
    server: DemoModelServer
    protocol_version = "HTTP/1.1"
    server_version = "QuorumDemoReplay/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and `make run` read stdout
        return

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": {"message": message, "type": "invalid_request_error", "code": status}})

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            data = [{"id": name, "object": "model", "created": 0, "owned_by": OWNER} for name in [*MODELS, JUDGE_MODEL]]
            self._json(200, {"object": "list", "data": data})
        else:
            self._error(404, "Not found. This demo replay model serves /v1/models and /v1/chat/completions.")

    def do_POST(self) -> None:
        behaviour = self.server.behaviour
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, "Not found.")
            return
        behaviour.seen_keys.append(self.headers.get("Authorization", ""))
        behaviour.completions += 1
        if behaviour.redirect_to:
            self.send_response(307)
            self.send_header("Location", behaviour.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if behaviour.api_key and self.headers.get("Authorization") != f"Bearer {behaviour.api_key}":
            self._error(401, "Incorrect API key provided.")
            return
        if behaviour.error_status and (behaviour.error_times is None or behaviour.errors_sent < behaviour.error_times):
            behaviour.errors_sent += 1
            body = behaviour.error_body.encode()
            self.send_response(behaviour.error_status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            self._error(400, "The body is not JSON.")
            return
        model = request.get("model")
        if model not in MODELS and model != JUDGE_MODEL:
            self._error(404, f"The model {model!r} does not exist. Models: {', '.join([*MODELS, JUDGE_MODEL])}.")
            return
        messages = request.get("messages") or []
        if model == JUDGE_MODEL:
            answer = judge_answer(_last_user_message(messages), manner=behaviour.judge)
        else:
            answer = self.server.corpus.answer(model, _last_user_message(messages))
        tokens = _TOKEN.findall(answer)
        max_tokens = request.get("max_tokens") or request.get("max_completion_tokens")
        finish = "stop"
        if isinstance(max_tokens, int) and 0 < max_tokens < len(tokens):
            tokens, finish = tokens[:max_tokens], "length"
        prompt_tokens = sum(len(_TOKEN.findall(str(m.get("content", "")))) for m in messages)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(tokens),
            "total_tokens": prompt_tokens + len(tokens),
        }
        ident = f"chatcmpl-demo-{uuid.uuid4().hex[:16]}"
        if request.get("stream"):
            include_usage = (
                bool((request.get("stream_options") or {}).get("include_usage")) and not behaviour.omit_usage
            )
            self._stream(ident, model, tokens, finish, usage if include_usage else None)
            return
        time.sleep(behaviour.first_token_delay + behaviour.token_delay * len(tokens) / 10)
        self._json(
            200,
            {
                "id": ident,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": OWNER,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(tokens)},
                        "finish_reason": finish,
                    }
                ],
                "usage": usage,
            },
        )

    def _stream(self, ident: str, model: str, tokens: list[str], finish: str, usage: dict[str, int] | None) -> None:
        behaviour = self.server.behaviour
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        base = {"id": ident, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

        def send(payload: dict[str, Any] | str) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            self.wfile.write(f"data: {data}\n\n".encode())
            self.wfile.flush()

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            return {**base, "system_fingerprint": OWNER, "choices": [choice]}

        try:
            send(chunk({"role": "assistant", "content": ""}))
            time.sleep(behaviour.first_token_delay)
            for number, token in enumerate(tokens):
                if behaviour.fail_after is not None and number >= behaviour.fail_after:
                    send({"error": {"message": "demo failure: the model crashed mid-stream", "code": 500}})
                    return
                if behaviour.disconnect_after is not None and number >= behaviour.disconnect_after:
                    return
                send(chunk({"content": token}))
                time.sleep(behaviour.token_delay)
            send(chunk({}, finish))
            if usage is not None:
                send({**base, "choices": [], "usage": usage})
            send("[DONE]")
        except (BrokenPipeError, ConnectionResetError):
            return  # the client went away (a timeout on its side): nothing to tell it


# --- The heuristic demo judge ---------------------------------------------------------------------
_SECTION = {
    "question": re.compile(r"\[Conversation\]\s*(.*?)\s*\[Response A\]", re.DOTALL),
    "A": re.compile(r"\[Response A\]\s*(.*?)\s*(?:\[End of Response A\]|\[Response B\])", re.DOTALL),
    "B": re.compile(r"\[Response B\]\s*(.*?)\s*(?:\[End of Response B\]|$)", re.DOTALL),
}
_WORD = re.compile(r"[a-z0-9']+")
_REFUSALS = ("i'm sorry", "i am sorry", "i cannot", "i can't", "as an ai", "i am unable", "i'm unable")
CLOSE_CALL = 0.1  # scores within 10% of each other: the demo judge leans to the first response shown


def _score(question_words: set[str], text: str) -> tuple[float, int, int]:
    words = _WORD.findall(text.lower())
    overlap = len(question_words & {w for w in words if len(w) > 3})
    substance = min(len(words), 300) / 100  # up to 3 points for up to 300 words; longer earns nothing
    refusal = 3.0 if any(phrase in text.lower()[:300] for phrase in _REFUSALS) else 0.0
    return overlap + substance - refusal, overlap, len(words)


def judge_answer(prompt: str, *, manner: str = "heuristic") -> str:
    """The heuristic demo judge's answer to a judging prompt (see the module's docstring):
    ``Verdict: A|B|tie`` and a ``Reason:`` line that says what it is."""
    found = {name: pattern.search(prompt) for name, pattern in _SECTION.items()}
    a, b = (found[k].group(1) if found[k] else None for k in ("A", "B"))  # type: ignore[union-attr]
    if a is None or b is None:
        return (
            "Verdict: tie\nReason: Heuristic demo judge: no [Response A] and [Response B] sections in the prompt, "
            "so nothing to compare."
        )
    if manner == "first":
        return "Verdict: A\nReason: Demo judge with a position bias: it always prefers the response shown first."
    if manner == "longer":
        verdict = "A" if len(a) > len(b) else "B" if len(b) > len(a) else "tie"
        return f"Verdict: {verdict}\nReason: Demo judge: it always prefers the longer response."
    question = found["question"].group(1) if found["question"] else ""
    question_words = {w for w in _WORD.findall(question.lower()) if len(w) > 3}
    (score_a, overlap_a, words_a), (score_b, overlap_b, words_b) = _score(question_words, a), _score(question_words, b)
    top = max(abs(score_a), abs(score_b), 1e-9)
    facts = (
        f"A shares {overlap_a} of the question's words and has {words_a} words; B shares {overlap_b} and has {words_b}"
    )
    if abs(score_a - score_b) / top < CLOSE_CALL:
        verdict, why = "A", "a close call, and like many judges it leans to the first response shown"
    else:
        verdict = "A" if score_a > score_b else "B"
        why = f"{verdict} scores higher on overlap, substance and not refusing"
    return f"Verdict: {verdict}\nReason: Heuristic demo judge (not a language model): {facts}; {why}."


def load_corpus(data_dir: Path) -> ReplayCorpus:
    return ReplayCorpus.from_file(data_dir / DATA_FILE)
