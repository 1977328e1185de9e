"""A stream with a model judge pointed at a real demo model server (``tests.model_servers``)."""

from __future__ import annotations

from typing import Any

from dynamic.demo_model import JUDGE_MODEL
from judging import services
from judging.models import Judge
from projects.models import Stream
from tests.factories import ItemFactory, StreamFactory
from tests.model_servers import endpoint

# Two responses of clearly different length on every item: the "longer" judge is consistent.
SHORT = "Paris."
LONG = "The capital of France is Paris, on the Seine; it has been the capital for most of the last millennium."


def items(stream: Stream, n: int, *, longer_first: bool = True, **fields: Any) -> list[Any]:
    made = []
    for _ in range(n):
        pair = [LONG, SHORT] if longer_first else [SHORT, LONG]
        made.append(
            ItemFactory(
                stream=stream,
                context=[{"role": "user", "content": "What is the capital of France?"}],
                responses=[{"text": text, "model": f"m{i}", "metadata": {}} for i, text in enumerate(pair)],
                **fields,
            )
        )
    return made


def judged_stream(url: str, *, n_items: int = 4, timeout_seconds: int = 10, **judge_fields: Any) -> Judge:
    """An active stream with ``n_items`` items (the longer response first) and a judge on the
    demo judge model at ``url``."""
    stream = StreamFactory.create(status=Stream.Status.ACTIVE, guidelines="Prefer the more helpful answer.")
    items(stream, n_items)
    model_endpoint = endpoint(stream.project, url, name="judge", model=JUDGE_MODEL, timeout_seconds=timeout_seconds)
    judge_fields.setdefault("concurrency", 2)
    return services.attach_judge(stream=stream, endpoint=model_endpoint, **judge_fields)


def run(judge: Judge, **kwargs: Any) -> str:
    """Starts a run of ``judge`` and runs it here (the task's service)."""
    started, _created = services.start_run(judge=judge)
    return services.run_judge(run_id=started.pk, **kwargs)
