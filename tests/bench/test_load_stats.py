"""bench/load.py's helpers: the statistics behind its two summary lines, its HTTP client and the
nginx configuration it derives from deploy/nginx.conf. The load run itself takes minutes and
prints figures (make bench-load); nothing here times anything."""

from __future__ import annotations

import asyncio
import importlib.util
import math
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "load.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


load = _load()


def _step(n: int, p95_s: float, errors: int = 0) -> object:
    step = load.StepResult(annotators=n)
    step.samples = [p95_s * 0.5] * 94 + [p95_s] * 6  # the 95th of 100 is p95_s
    step.errors = ["boom"] * errors
    return step


def test_it_takes_the_nearest_rank_percentile() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert load.percentile(values, 95) == 95.0
    assert load.percentile(values, 50) == 50.0
    assert load.percentile(values, 100) == 100.0
    assert load.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert load.percentile([7.0], 95) == 7.0
    assert math.isnan(load.percentile([], 95))


def test_it_draws_think_times_with_the_median_asked_and_a_long_tail() -> None:
    rng = random.Random(17)
    draws = [load.think_seconds(rng, 8.0, 0.8, 10_000.0) for _ in range(20_000)]
    median = load.percentile(draws, 50)
    # 20,000 draws: the sample median's standard error is ~1 % of 8 s; 5 % is far outside it.
    assert 7.6 < median < 8.4
    # Log-normal: the 95th percentile is exp(1.645 sigma) = 3.7 times the median.
    assert 3.3 < load.percentile(draws, 95) / median < 4.2
    assert 0.9 < load.percentile([load.think_seconds(rng, 2.0, 0.3, 60.0) for _ in range(5_000)], 50) / 2.0 < 1.1


def test_it_caps_think_times() -> None:
    rng = random.Random(1)
    assert max(load.think_seconds(rng, 8.0, 2.0, 30.0) for _ in range(2_000)) == 30.0


def test_it_finds_the_largest_step_served() -> None:
    steps = [_step(50, 0.040), _step(100, 0.090), _step(200, 0.150), _step(400, 0.400)]
    assert load.largest_served(steps, 150) == 200
    assert load.largest_served(list(reversed(steps)), 150) == 200


def test_it_stops_at_the_first_step_missed_even_when_a_larger_one_recovers() -> None:
    steps = [_step(50, 0.040), _step(100, 0.300), _step(200, 0.100)]
    assert load.largest_served(steps, 150) == 50


def test_it_counts_a_step_with_an_error_as_missed() -> None:
    assert load.largest_served([_step(50, 0.040), _step(100, 0.050, errors=1)], 150) == 50
    assert load.largest_served([_step(50, 0.040, errors=2)], 150) == 0
    assert load.largest_served([], 150) == 0
    assert load.largest_served([load.StepResult(annotators=50)], 150) == 0  # no sample: nothing shown


def test_it_divides_cpu_by_judgements_over_the_server_side_kinds() -> None:
    step = load.StepResult(annotators=10, judgements=100)
    step.cpu = {"gunicorn": 1.0, "PostgreSQL": 0.5, "load generator": 2.0}
    assert step.cpu_ms_per_judgement(["gunicorn", "PostgreSQL"]) == pytest.approx(15.0)
    assert math.isnan(load.StepResult(annotators=10).cpu_ms_per_judgement(["gunicorn"]))


def test_it_measures_long_enough_for_the_samples_asked() -> None:
    assert load.window_seconds(50, 10.0, 300, 20.0, 75.0) == pytest.approx(60.0)
    assert load.window_seconds(1000, 10.0, 300, 20.0, 75.0) == 20.0
    assert load.window_seconds(10, 10.0, 300, 20.0, 75.0) == 75.0


async def _serve(replies: list[bytes]) -> tuple[asyncio.Server, int, list[bytes]]:
    """A real socket server that answers each request with the next canned reply."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while replies:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")), 0
            )
            seen.append(head + await reader.readexactly(length))
            reply = replies.pop(0)
            writer.write(reply)
            await writer.drain()
            if b"Connection: close" in reply:
                break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen


def test_its_http_client_reads_chunked_and_sized_answers_and_reconnects_after_a_close() -> None:
    async def scenario() -> None:
        server, port, seen = await _serve(
            [
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: csrftoken=abc; Path=/; Secure\r\n\r\nhello",
                b'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{"a\r\n5\r\n": 1}\r\n0\r\n\r\n',
                b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            ]
        )
        client = load.RawClient("127.0.0.1", port, 5.0)
        first = await client.get("/a/", {"Accept": "text/html"})
        assert (first.status_code, first.content, first.set_cookies) == (
            200,
            b"hello",
            ["csrftoken=abc; Path=/; Secure"],
        )
        second = await client.post("/b/", {}, json_body={"x": 1})
        assert (second.status_code, second.json()) == (201, {"a": 1})
        third = await client.post("/c/", {}, data={"interacted": "1"})
        assert (third.status_code, third.content) == (204, b"")
        fourth = await client.get("/d/", {})  # on a new connection: the server closed the last one
        assert fourth.text == "ok"
        await client.aclose()
        server.close()
        assert seen[1].endswith(b'{"x": 1}')
        assert b"Content-Type: application/json" in seen[1]
        assert seen[2].endswith(b"interacted=1")

    # In a thread of its own: a browser test before this one may leave Playwright's event loop
    # running in the main thread, where asyncio.run refuses to start.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(scenario())).result()


def test_it_runs_the_committed_nginx_config_with_its_own_ports_and_paths(tmp_path: Path) -> None:
    config = load.nginx_config(tmp_path, 18080, 18000).read_text()
    assert "listen 127.0.0.1:18080;" in config
    assert "server 127.0.0.1:18000 fail_timeout=0;" in config
    assert "/var/" not in config
    assert "/run/" not in config
    assert f"pid {tmp_path}/nginx.pid;" in config
    # Everything else is the committed file's.
    assert "proxy_buffering on;" in config
    assert "proxy_pass http://quorum_gunicorn;" in config
