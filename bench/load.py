"""How many annotators one small server carries: simulated people with think time (issue 17).

    .venv/bin/python bench/load.py                       # both setups, ~12 minutes (make bench-load)
    .venv/bin/python bench/load.py --quick               # a ~2-minute smoke run of both
    .venv/bin/python bench/load.py --setups embedded --steps 50,100,200

**The people.** Each simulated annotator reads the two responses for a think time drawn from a
log-normal distribution (median ``--think-median`` 8 s, ``--think-sigma`` 0.8: a long tail, the
95th percentile near 30 s and a few minutes now and then, capped at ``--think-cap``), then answers.
Four in five work in the browser and make the item page's own requests (templates/annotation/
item.html, static/js/annotate.js): the full item page once (``GET /annotate/streams/<id>/work/``),
then per item the htmx submit (``POST /annotate/assignments/<id>/submit/`` with ``HX-Request``,
answered with the next item's workspace fragment: next + submit in one round trip), the heartbeat
with ``interacted=1`` at the first key press, and the page's periodic heartbeat every
``max(15, min(120, lease / 4))`` seconds while they read. One in five use the API (docs/api.md):
``GET /api/streams/<id>/next/`` then ``POST /api/assignments/<id>/judgement/`` (with an
``Idempotency-Key``); their next+submit is the sum of the two. ``--late`` of the items (3 %) are
left for longer than the lease with the tab hidden (no heartbeat) and answered after it expired (a
late answer is kept, counted if the item still needs it); ``--skip`` of them (2 %) are skipped
with a reason. The stream's lease is ``--lease-minutes`` (1) so that lateness fits in a run.

**The ramp.** The number of annotators grows in steps (``--steps``); each new person arrives at a
random moment of the step's ramp-up (about 25 a second: a full page each), and the step is measured
once their first pages are answered (at most ``--arrival-wait`` 20 s more), for as long as it takes
to collect ``--samples`` (300) next+submit samples (20 to 40 seconds: ``--min-seconds``,
``--max-seconds``). Per step it prints p50/p95 of next+submit (and of the first page), errors (any
status but the expected 200, 201 or 204, connection errors, time-outs of 30 s), judgements/s, the
load average, and the CPU time per judgement of the server processes, the PostgreSQL backends of
the bench database and the worker processes, read from /proc (utime + stime; the machine is shared,
so CPU per judgement is the figure that holds, rates and latencies follow the load average). The
ramp stops at the first step that misses p95 <= ``--p95-ms`` (150) or has an error. Served = the
largest step met, every smaller step met too.

**The setups.** *embedded*: what ``make run`` serves (``manage.py runserver`` with its autoreloader,
DEBUG on, SQLite in a temporary directory, eager Celery, ``manage.py run_periodic`` beside it).
*production*: docs/production.md: PostgreSQL (a throwaway database ``quorum_bench_load``, dropped
at the end), Redis (database 14, a queue of its own), ``celery worker`` and ``celery beat``,
gunicorn started with exactly ``deploy/gunicorn.conf.py`` and, when Debian's nginx is installed,
nginx in front started with ``deploy/nginx.conf`` (its listen port, upstream port and file paths
rewritten for the run). Without nginx it says so and measures gunicorn alone. Both fill one stream
of 10,000 pairwise items (overlap 3) and log the annotators in by writing their sessions (a login
would spend a password hash per person: 1,000 logins are minutes of CPU that no working day
repeats) and API tokens.

The load generator is this process (asyncio; one keep-alive connection per person, as a browser
tab has; a minimal HTTP/1.1 client, or httpx2 with ``--client httpx2``); the servers are its
children, in their own process groups, stopped at the end. Its own CPU is printed too: on a
2-core machine it competes with the server.

It ends with exactly two lines::

    annotators at p95 <= 150 ms: embedded N, production N
    cpu ms per judgement: embedded X, production Y

where CPU per judgement is server + PostgreSQL + worker (+ proxy) at the largest step served (at
the first step when none was).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
BIN = Path(PYTHON).parent
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
ADMIN_URL = "postgres://postgres@127.0.0.1:5432"
PG_DATABASE = "quorum_bench_load"
REDIS_URL = "redis://127.0.0.1:6379/14"
# As the Makefile's EMBEDDED: nothing from a deployment's configuration leaks into either setup.
DEPLOYMENT_VARIABLES = (
    "QUORUM_ENV", "DEBUG", "DATABASE_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER", "ALLOWED_HOSTS",
    "SECURE_SSL_REDIRECT", "EMAIL_HOST", "NUM_PROXIES", "TRUST_X_FORWARDED_PROTO", "DJANGO_SETTINGS_MODULE",
)  # fmt: skip


# --- Statistics (tests/bench/test_load_stats.py) ------------------------------------------------
def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile (``p`` in 0..100): the smallest value with at least p % of the
    values at or below it. NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def think_seconds(rng: random.Random, median: float, sigma: float, cap: float) -> float:
    """One think time: log-normal with the given median (exp(mu)) and shape sigma, capped."""
    return min(cap, rng.lognormvariate(math.log(median), sigma))


@dataclass
class StepResult:
    annotators: int
    seconds: float = 0.0
    samples: list[float] = field(default_factory=list)  # next+submit, seconds
    pages: list[float] = field(default_factory=list)  # the full item page, seconds
    judgements: int = 0  # answers stored inside the window (late ones included)
    skips: int = 0
    heartbeats: int = 0
    late: int = 0
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds in the window, by process kind
    load: str = ""
    exhausted: bool = False

    def p95_ms(self) -> float:
        return percentile(self.samples, 95) * 1000

    def met(self, p95_limit_ms: float) -> bool:
        return bool(self.samples) and not self.errors and self.p95_ms() <= p95_limit_ms

    def cpu_ms_per_judgement(self, kinds: Sequence[str] | None = None) -> float:
        if not self.judgements:
            return math.nan
        used = sum(seconds for kind, seconds in self.cpu.items() if kinds is None or kind in kinds)
        return used * 1000 / self.judgements


def largest_served(steps: Sequence[StepResult], p95_limit_ms: float) -> int:
    """The largest number of annotators served at p95 <= the limit with no error, every smaller
    step served too (a ramp that recovers after a failed step does not count). 0 if none."""
    served = 0
    for step in sorted(steps, key=lambda s: s.annotators):
        if not step.met(p95_limit_ms):
            break
        served = step.annotators
    return served


def window_seconds(annotators: int, cycle_seconds: float, samples: int, minimum: float, maximum: float) -> float:
    """How long to measure a step to collect about ``samples`` next+submit samples when each of
    ``annotators`` people answers every ``cycle_seconds`` on average."""
    rate = annotators / cycle_seconds
    return max(minimum, min(maximum, samples / rate))


# --- HTTP clients -------------------------------------------------------------------------------
@dataclass
class Reply:
    status_code: int
    content: bytes
    set_cookies: list[str]

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class RawClient:
    """A minimal HTTP/1.1 client on asyncio streams: one keep-alive connection, requests in
    sequence (as one browser tab's). About a tenth of httpx2's CPU per request, which matters when
    the load generator shares two cores with the server (``--client httpx2`` compares)."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, headers: dict[str, str]) -> Reply:
        return await self.request("GET", path, headers, None)

    async def post(
        self, path: str, headers: dict[str, str], data: dict[str, str] | None = None, json_body: Any = None
    ) -> Reply:
        if json_body is not None:
            body, kind = json.dumps(json_body).encode(), "application/json"
        else:
            body, kind = urlencode(data or {}).encode(), "application/x-www-form-urlencoded"
        return await self.request("POST", path, {**headers, "Content-Type": kind}, body)

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> Reply:
        for attempt in (1, 2):
            reused = self.writer is not None
            if self.writer is None:
                self.reader, self.writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self.timeout
                )
            try:
                return await asyncio.wait_for(self._exchange(method, path, headers, body), self.timeout)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                # The server closed an idle keep-alive connection (nothing was read): once more on
                # a new one. A request on a fresh connection that fails is an error.
                await self.aclose()
                if attempt == 2 or not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                    raise
            except BaseException:
                await self.aclose()
                raise
        raise AssertionError("unreachable")

    async def _exchange(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> Reply:
        assert self.reader is not None
        assert self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        version, status = status_line.split(" ", 2)[:2]
        fields: dict[str, str] = {}
        cookies = []
        for line in header_lines:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                cookies.append(value)
            fields[name] = value
        code = int(status)
        if code in (204, 304) or method == "HEAD":
            content = b""
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            content = b"".join(parts)
        elif "content-length" in fields:
            content = await self.reader.readexactly(int(fields["content-length"]))
        else:
            content = await self.reader.read()
            fields["connection"] = "close"
        connection = fields.get("connection", "").lower()
        if connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive"):
            await self.aclose()
        return Reply(code, content, cookies)

    async def aclose(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


class HttpxClient:
    """The same calls through httpx2.AsyncClient (its own pool of one connection)."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        import httpx2

        self.client = httpx2.AsyncClient(
            base_url=f"http://{host}:{port}", timeout=timeout, limits=httpx2.Limits(max_connections=1)
        )

    async def get(self, path: str, headers: dict[str, str]) -> Reply:
        return self._reply(await self.client.get(path, headers=headers))

    async def post(
        self, path: str, headers: dict[str, str], data: dict[str, str] | None = None, json_body: Any = None
    ) -> Reply:
        if json_body is not None:
            return self._reply(await self.client.post(path, json=json_body, headers=headers))
        return self._reply(await self.client.post(path, data=data or {}, headers=headers))

    @staticmethod
    def _reply(response: Any) -> Reply:
        # The session and CSRF cookies are kept by hand (Person): the jar must not add its own.
        return Reply(response.status_code, response.content, response.headers.get_list("set-cookie"))

    async def aclose(self) -> None:
        await self.client.aclose()


# --- Simulated annotators -----------------------------------------------------------------------
@dataclass
class Behaviour:
    think_median: float
    think_sigma: float
    think_cap: float
    late: float
    skip: float
    lease_seconds: float

    @property
    def heartbeat_every(self) -> float:
        # As annotate.js: well inside the lease, at most every 15 s, at least every 2 minutes.
        return max(15.0, min(120.0, self.lease_seconds / 4))

    @property
    def mean_cycle(self) -> float:
        mean_think = min(self.think_cap, self.think_median * math.exp(self.think_sigma**2 / 2))
        return mean_think + self.late * self.lease_seconds


class Recorder:
    """Where the people write what happened; the current step's result, swapped at step borders.
    A request counts for the step that is current when it *starts*, inside the measured window."""

    def __init__(self) -> None:
        self.step: StepResult | None = None
        self.measuring = False
        self.exhausted = False
        self.arrived = 0  # people whose first page (or first API next) was answered, or failed

    def current(self) -> StepResult | None:
        return self.step if self.measuring else None

    def error(self, text: str) -> None:
        # Errors count during the ramp-up too: a person turned away while arriving is an error.
        if self.step is not None:
            self.step.errors.append(text)


WORKSPACE_ASSIGNMENT = re.compile(rb'data-assignment="(\d+)"')
TOKEN_FIELD = re.compile(rb'name="token" value="([^"]+)"')
CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


class Person:
    def __init__(
        self, index: int, credential: dict[str, str], port: int, stream_id: int, behaviour: Behaviour, client: str
    ) -> None:
        self.index = index
        self.kind = credential["kind"]
        self.credential = credential
        self.stream_id = stream_id
        self.behaviour = behaviour
        self.rng = random.Random(index)
        self.client: RawClient | HttpxClient = (HttpxClient if client == "httpx2" else RawClient)(
            "127.0.0.1", port, 30.0
        )
        self.cookies = {"sessionid": credential.get("session", "")}
        self.arrived = False
        self.csrf = ""

    # The session and CSRF cookies by hand: the production setup marks them Secure (as it must),
    # and a cookie jar rightly keeps Secure cookies off plain HTTP.
    def _cookie_header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items() if v)}

    def _remember_cookies(self, response: Reply) -> None:
        for line in response.set_cookies:
            name, _, rest = line.partition("=")
            if name.strip() in ("csrftoken", "sessionid"):
                self.cookies[name.strip()] = rest.split(";", 1)[0]

    async def run(self, recorder: Recorder, start_delay: float) -> None:
        await asyncio.sleep(start_delay)
        try:
            if self.kind == "web":
                await self._web(recorder)
            else:
                await self._api(recorder)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure of a request is an error to count, whatever it is
            recorder.error(f"{self.kind} #{self.index}: {exc!r}"[:300])
        finally:
            self._arrive(recorder)
            await self.client.aclose()

    def _arrive(self, recorder: Recorder) -> None:
        if not self.arrived:
            self.arrived = True
            recorder.arrived += 1

    def _think(self) -> tuple[float, bool]:
        """(seconds before answering, whether the tab is left hidden past the lease)."""
        if self.rng.random() < self.behaviour.late:
            return self.behaviour.lease_seconds + self.rng.uniform(10, 60), True
        b = self.behaviour
        return think_seconds(self.rng, b.think_median, b.think_sigma, b.think_cap), False

    # --- The browser ---------------------------------------------------------------------------
    async def _web(self, recorder: Recorder) -> None:
        t0 = time.perf_counter()
        step = recorder.step  # arrivals fall in the ramp-up, before the window: counted there
        response = await self.client.get(
            f"/annotate/streams/{self.stream_id}/work/", {**self._cookie_header(), "Accept": "text/html"}
        )
        if step is not None:
            step.pages.append(time.perf_counter() - t0)
        self._arrive(recorder)
        if response.status_code != 200:
            raise RuntimeError(f"item page: {response.status_code}")
        self._remember_cookies(response)
        body = response.content
        while True:
            assignment = WORKSPACE_ASSIGNMENT.search(body)
            if assignment is None:
                recorder.exhausted = True
                return
            token_match, csrf_match = TOKEN_FIELD.search(body), CSRF_FIELD.search(body)
            if token_match is None or csrf_match is None:
                raise RuntimeError("workspace without its lease token or CSRF field")
            assignment_id, token = int(assignment.group(1)), token_match.group(1).decode()
            self.csrf = csrf_match.group(1).decode()
            think, late = self._think()
            await self._read(assignment_id, think, late, recorder)
            skip = self.rng.random() < self.behaviour.skip
            headers = {**self._cookie_header(), "HX-Request": "true", "X-CSRFToken": self.csrf}
            if skip:
                url = f"/annotate/assignments/{assignment_id}/skip/"
                data = {"reason": "unclear", "note": "", "csrfmiddlewaretoken": self.csrf}
            else:
                url = f"/annotate/assignments/{assignment_id}/submit/"
                choice = self.rng.choice(["A", "A", "B", "B", "tie", "both_bad"])
                data = {
                    "csrfmiddlewaretoken": self.csrf,
                    "token": token,
                    "choice": choice,
                    "strength": str(self.rng.randint(1, 3)) if choice in ("A", "B") else "",
                    "rationale": "",
                    "active_seconds": f"{think:.1f}",
                }
            step = recorder.current()
            t0 = time.perf_counter()
            response = await self.client.post(url, headers, data=data)
            elapsed = time.perf_counter() - t0
            if response.status_code != 200:
                raise RuntimeError(f"{'skip' if skip else 'submit'}: {response.status_code} {response.text[:200]!r}")
            self._remember_cookies(response)
            body = response.content
            if step is not None:
                if skip:
                    step.skips += 1
                else:
                    step.samples.append(elapsed)
                    step.judgements += 1
                    step.late += late

    async def _read(self, assignment_id: int, think: float, late: bool, recorder: Recorder) -> None:
        """The reading time, with the page's heartbeats: the first key press (interacted=1), then
        the timer while the tab is visible (a person away past the lease has it hidden: none)."""
        first = min(think * 0.5, self.rng.uniform(1.0, 3.0))
        await asyncio.sleep(first)
        await self._heartbeat(assignment_id, True, recorder)
        waited = first
        if not late:
            while think - waited > self.behaviour.heartbeat_every:
                await asyncio.sleep(self.behaviour.heartbeat_every)
                waited += self.behaviour.heartbeat_every
                await self._heartbeat(assignment_id, False, recorder)
        await asyncio.sleep(max(0.0, think - waited))

    async def _heartbeat(self, assignment_id: int, interacted: bool, recorder: Recorder) -> None:
        step = recorder.current()
        response = await self.client.post(
            f"/annotate/assignments/{assignment_id}/heartbeat/",
            {**self._cookie_header(), "X-CSRFToken": self.csrf},
            data={"interacted": "1"} if interacted else {},
        )
        if response.status_code != 200:
            raise RuntimeError(f"heartbeat: {response.status_code}")
        if step is not None:
            step.heartbeats += 1

    # --- The API client ------------------------------------------------------------------------
    async def _api(self, recorder: Recorder) -> None:
        auth = {"Authorization": f"Token {self.credential['token']}", "Accept": "application/json"}
        while True:
            t0 = time.perf_counter()
            response = await self.client.get(f"/api/streams/{self.stream_id}/next/", auth)
            next_s = time.perf_counter() - t0
            self._arrive(recorder)
            if response.status_code == 204:
                recorder.exhausted = True
                return
            if response.status_code != 200:
                raise RuntimeError(f"api next: {response.status_code}")
            assignment_id = response.json()["assignment"]
            think, late = self._think()
            await asyncio.sleep(think)
            if self.rng.random() < self.behaviour.skip:
                response = await self.client.post(
                    f"/api/assignments/{assignment_id}/skip/", auth, json_body={"reason": "unclear", "note": ""}
                )
                if response.status_code != 200:
                    raise RuntimeError(f"api skip: {response.status_code}")
                current = recorder.current()
                if current is not None:
                    current.skips += 1
                continue
            choice = self.rng.choice(["A", "A", "B", "B", "tie", "both_bad"])
            answer: dict[str, Any] = {
                "choice": choice,
                "strength": self.rng.randint(1, 3) if choice in ("A", "B") else None,
                "rationale": "",
                "flags": [],
                "active_seconds": round(think, 1),
            }
            headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
            step = recorder.current()
            t1 = time.perf_counter()
            response = await self.client.post(f"/api/assignments/{assignment_id}/judgement/", headers, json_body=answer)
            submit_s = time.perf_counter() - t1
            if response.status_code not in (200, 201):
                raise RuntimeError(f"api judgement: {response.status_code} {response.text[:200]!r}")
            if step is not None:
                step.samples.append(next_s + submit_s)
                step.judgements += 1
                step.late += late


# --- CPU accounting -----------------------------------------------------------------------------
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (proc(5) fields 14 and 15), and of its children already waited
    for (16, 17: a worker that exited), in seconds; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / TICK


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(child) for child in f.read().split()]
    except OSError:
        children = []
    for child in children:
        pids.extend(process_tree(child))
    return pids


class CpuMeter:
    """CPU seconds used since the last reading, by kind: each kind is the process trees of the
    started processes (server, proxy, worker) or the PostgreSQL backends of the bench database."""

    def __init__(self, roots: dict[str, list[int]], database: str | None) -> None:
        self.roots = roots
        self.database = database
        self.before: dict[str, dict[int, float]] = {}

    def _backends(self) -> list[int]:
        if not self.database:
            return []
        import psycopg

        with psycopg.connect(f"{ADMIN_URL}/postgres", autocommit=True) as admin:
            rows = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [self.database]
            ).fetchall()
        return [int(pid) for (pid,) in rows]

    def _read(self) -> dict[str, dict[int, float]]:
        reading = {
            kind: {p: cpu_seconds(p) for root in roots for p in process_tree(root)}
            for kind, roots in self.roots.items()
        }
        if self.database:
            reading["PostgreSQL"] = {p: cpu_seconds(p) for p in self._backends()}
        reading["load generator"] = {0: time.process_time()}
        return reading

    def start(self) -> None:
        self.before = self._read()

    def used(self) -> dict[str, float]:
        after = self._read()
        # A process started during the window counts from zero; one that ended is lost (gunicorn
        # and Celery keep theirs, the backends live as long as their connections: minutes).
        return {
            kind: sum(now - self.before.get(kind, {}).get(pid, 0.0) for pid, now in pids.items())
            for kind, pids in after.items()
        }


# --- The ramp -----------------------------------------------------------------------------------
def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


async def ramp(
    *,
    port: int,
    stream_id: int,
    credentials: list[dict[str, str]],
    behaviour: Behaviour,
    args: argparse.Namespace,
    meter: CpuMeter,
    server_kinds: Sequence[str],
) -> list[StepResult]:
    recorder = Recorder()
    people: list[asyncio.Task[None]] = []
    results: list[StepResult] = []
    started = time.monotonic()
    try:
        for n in args.steps:
            if n > len(credentials):
                break
            window = window_seconds(n, behaviour.mean_cycle, args.samples, args.min_seconds, args.max_seconds)
            new = n - len(people)
            arrive = min(30.0, max(5.0, new / 25))
            needs = arrive + 2 + (args.warmup if not results else 0) + window + 2  # + the arrivals' wait
            if args.budget and time.monotonic() - started + needs > args.budget and results:
                print(f"  (step {n} would pass the --budget of {args.budget:.0f} s: the ramp stops here)")
                break
            step = StepResult(annotators=n)
            recorder.step, recorder.measuring = step, False
            for i in range(len(people), n):
                person = Person(i, credentials[i], port, stream_id, behaviour, args.client)
                people.append(asyncio.create_task(person.run(recorder, random.uniform(0, arrive))))
            # The first step also warms the server up (imports, templates, connections): unmeasured.
            await asyncio.sleep(arrive + 2 + (args.warmup if not results else 0))
            # Measure the steady state: not while the arrivals' first pages are still queued (a
            # burst of full pages that no working day has), but not for ever either.
            deadline = time.monotonic() + args.arrival_wait
            while recorder.arrived < len(people) and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            if recorder.arrived < len(people):
                print(f"  ({len(people) - recorder.arrived} of {n} still waited for their first page)")
            meter.start()
            t0 = time.perf_counter()
            recorder.measuring = True
            await asyncio.sleep(window)
            recorder.measuring = False
            step.seconds = time.perf_counter() - t0
            step.cpu = meter.used()
            await asyncio.sleep(2)  # the window's last requests finish (their samples count)
            step.load = loadavg()
            step.exhausted = recorder.exhausted
            results.append(step)
            print_step(step, args.p95_ms, server_kinds)
            if not step.met(args.p95_ms) or step.exhausted:
                if step.exhausted:
                    print("  (the stream ran out of items: the ramp stops here)")
                break
    finally:
        for task in people:
            task.cancel()
        await asyncio.gather(*people, return_exceptions=True)
    return results


def print_step(step: StepResult, p95_ms: float, server_kinds: Sequence[str]) -> None:
    ms = [v * 1000 for v in step.samples]
    rate = step.judgements / step.seconds if step.seconds else 0.0
    verdict = "met" if step.met(p95_ms) else "NOT met"
    print(
        f"  {step.annotators:>5} annotators: next+submit p50 {percentile(ms, 50):6.1f} ms  "
        f"p95 {percentile(ms, 95):6.1f} ms "
        f"({len(ms)} samples; item page p95 {percentile(step.pages, 95) * 1000:.0f} ms over {len(step.pages)}); "
        f"{rate:5.1f} judgements/s ({step.late} late, {step.skips} skips, {step.heartbeats} heartbeats in "
        f"{step.seconds:.0f} s); errors {len(step.errors)}; load {step.load} -> {verdict}"
    )
    if step.judgements:
        parts = ", ".join(f"{kind} {seconds * 1000 / step.judgements:.1f}" for kind, seconds in step.cpu.items())
        print(f"        CPU ms per judgement: {parts}; server side total {step.cpu_ms_per_judgement(server_kinds):.1f}")
    for error in step.errors[:3]:
        print(f"        error: {error}")


# --- Processes ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stdout=out, stderr=out)


def stop(process: subprocess.Popen[bytes] | None) -> None:
    # Each started process leads its own session (process group): end that group only.
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_http(port: int, processes: Sequence[subprocess.Popen[bytes]], log: Path, timeout: float = 60) -> None:
    import http.client

    deadline = time.time() + timeout
    while time.time() < deadline:
        for process in processes:
            if process.poll() is not None:
                tail = log.read_text()[-2000:]
                raise SystemExit(f"FAIL: {process.args!r} exited with {process.returncode}; {log}:\n{tail}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/api/projects/")  # 401 without a token: Django answers, nothing else runs
            if conn.getresponse().status == 401:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.3)
    raise SystemExit(f"FAIL: nothing answered on port {port}; see {log}")


def populate(env: dict[str, str], workdir: Path, args: argparse.Namespace, collectstatic: bool) -> dict[str, Any]:
    """Migrates and fills the setup's database in a child process with the setup's settings (one
    process cannot configure Django twice), which writes the credentials to a file."""
    out = workdir / "credentials.json"
    command = [
        PYTHON, __file__, "--populate", str(out), "--items", str(args.items), "--people", str(max(args.steps)),
        "--lease-minutes", str(args.lease_minutes), "--api-share", str(args.api_share),
    ] + (["--collectstatic"] if collectstatic else [])  # fmt: skip
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return dict(json.loads(out.read_text()))


def populate_main(args: argparse.Namespace) -> int:
    import hashlib

    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connection, transaction

    from annotation.models import Item
    from projects.models import ApiToken, Membership, Project, Role, Stream, StreamMembership

    sys.path.insert(0, str(ROOT / "bench"))
    from http_annotators import text_for

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    if args.collectstatic:
        call_command("collectstatic", interactive=False, verbosity=0)
    with transaction.atomic():
        project = Project.objects.create(slug="load", name="Load")
        stream = Stream.objects.create(
            project=project, slug="s", name="Load stream", status="active", overlap=3, lease_minutes=args.lease_minutes
        )
        Item.objects.bulk_create(
            [
                Item(
                    stream=stream,
                    external_id=f"item-{n}",
                    context=[
                        {"role": "user", "content": f"Question {n}: how should I find the first repeated element?"}
                    ],
                    responses=[{"text": text_for(n, 0), "model": "a"}, {"text": text_for(n, 1 + n % 3), "model": "b"}],
                    num_responses=2,
                    content_hash=hashlib.sha256(str(n).encode()).hexdigest(),
                )
                for n in range(1, args.items + 1)
            ],
            batch_size=1000,
        )
        people = []
        every = round(1 / args.api_share) if args.api_share > 0 else 0
        for i in range(args.people):
            user = User.objects.create(username=f"annotator{i}")
            user.set_unusable_password()
            user.save(update_fields=["password"])
            Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
            StreamMembership.objects.create(stream=stream, user=user, status="qualified")
            if every and i % every == every - 1:
                people.append({"kind": "api", "token": ApiToken.generate(user=user, name="load")[1]})
            else:
                session = SessionStore()
                session[SESSION_KEY] = str(user.pk)
                session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
                session[HASH_SESSION_KEY] = user.get_session_auth_hash()
                session.create()
                people.append({"kind": "web", "session": str(session.session_key)})
    if connection.vendor == "postgresql":
        # Planner statistics, as autovacuum keeps them on a database in service; without them the
        # first minutes plan the claim on empty statistics (and autovacuum's ANALYZE lands mid-run).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    Path(args.populate).write_text(json.dumps({"stream": stream.pk, "people": people}))
    print(
        f"  filled in {time.perf_counter() - started:.0f} s: {args.items:,} pairwise items (overlap 3, lease "
        f"{args.lease_minutes} min), {args.people} annotators ({sum(p['kind'] == 'api' for p in people)} on the API)"
    )
    return 0


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DEPLOYMENT_VARIABLES}
    env["DJANGO_SETTINGS_MODULE"] = "quorum.settings"
    return env


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def nginx_config(workdir: Path, listen: int, upstream: int) -> Path:
    """deploy/nginx.conf with this run's ports and paths: the listen port, the upstream port, the
    pid and log files and the temporary directories under ``workdir``; nothing else changes."""
    text = NGINX_CONF.read_text()
    replacements = {
        "listen 80;": f"listen 127.0.0.1:{listen};",
        "server 127.0.0.1:8000": f"server 127.0.0.1:{upstream}",
        "/run/nginx-quorum.pid": str(workdir / "nginx.pid"),
        "/var/log/nginx/": f"{workdir}/nginx-",
        "/var/lib/nginx/quorum/": f"{workdir}/nginx-tmp/",
    }
    for old, new in replacements.items():
        if old not in text:
            raise SystemExit(f"FAIL: {NGINX_CONF} no longer contains {old!r}: update bench/load.py's template")
        text = text.replace(old, new)
    if os.geteuid() == 0:
        # The workers would drop to nobody, who may not write to this private directory.
        text = "user root;\n" + text
    (workdir / "nginx-tmp").mkdir()
    path = workdir / "nginx.conf"
    path.write_text(text)
    return path


def run_embedded(args: argparse.Namespace, behaviour: Behaviour) -> list[StepResult]:
    workdir = Path(tempfile.mkdtemp(prefix="quorum-bench-load-"))
    env = clean_env()
    env["DATABASE_URL"] = f"sqlite:///{workdir / 'quorum.sqlite3'}"
    log = workdir / "processes.log"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        data = populate(env, workdir, args, collectstatic=False)
        port = free_port()
        server = start([PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}"], env, log)
        processes.append(server)
        periodic = start([PYTHON, "manage.py", "run_periodic"], env, log)
        processes.append(periodic)
        wait_http(port, processes, log)
        print(f"  manage.py runserver 127.0.0.1:{port} (DEBUG on, SQLite, eager Celery) + manage.py run_periodic")
        meter = CpuMeter({"server": [server.pid], "worker": [periodic.pid]}, None)
        return asyncio.run(
            ramp(
                port=port,
                stream_id=data["stream"],
                credentials=data["people"],
                behaviour=behaviour,
                args=args,
                meter=meter,
                server_kinds=("server", "worker"),
            )
        )
    finally:
        for process in reversed(processes):
            stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


def run_production(args: argparse.Namespace, behaviour: Behaviour) -> list[StepResult]:
    import psycopg
    import redis

    workdir = Path(tempfile.mkdtemp(prefix="quorum-bench-load-"))
    nginx = None if args.no_proxy else nginx_binary()
    queue = f"bench-load-{os.getpid()}"
    env = clean_env()
    env.update(
        QUORUM_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=f"{ADMIN_URL}/{PG_DATABASE}",
        REDIS_URL=REDIS_URL,
        # Plain HTTP on the loopback: no TLS to terminate, so no redirect to https.
        SECURE_SSL_REDIRECT="0",
        NUM_PROXIES="1" if nginx else "0",
        LOG_LEVEL="warning",
        CELERY_TASK_DEFAULT_QUEUE=queue,
        CELERY_BEAT_SCHEDULE_FILENAME=str(workdir / "celerybeat-schedule"),
        MEDIA_ROOT=str(workdir / "media"),
        STATIC_ROOT=str(workdir / "static"),
    )
    if args.workers:
        env["GUNICORN_WORKERS"] = str(args.workers)
    log = workdir / "processes.log"
    processes: list[subprocess.Popen[bytes]] = []
    with psycopg.connect(f"{ADMIN_URL}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    try:
        data = populate(env, workdir, args, collectstatic=True)
        app_port = free_port()
        gunicorn = start(
            [str(BIN / "gunicorn"), "-c", str(GUNICORN_CONF), "--bind", f"127.0.0.1:{app_port}", "--no-control-socket"],
            env,
            log,
        )
        processes.append(gunicorn)
        worker = start([str(BIN / "celery"), "-A", "quorum", "worker", "-l", "warning", "-Q", queue], env, log)
        beat = start([str(BIN / "celery"), "-A", "quorum", "beat", "-l", "warning"], env, log)
        processes += [worker, beat]
        wait_http(app_port, processes, log)
        roots = {"gunicorn": [gunicorn.pid], "worker": [worker.pid, beat.pid]}
        port = app_port
        workers = env.get("GUNICORN_WORKERS", "the config's default")
        if nginx:
            port = free_port()
            config = nginx_config(workdir, port, app_port)
            proxy = start([nginx, "-p", str(workdir), "-c", str(config), "-g", "daemon off;"], env, log)
            processes.append(proxy)
            wait_http(port, processes, log)
            roots["nginx"] = [proxy.pid]
            print(f"  proxy: nginx ({NGINX_CONF.relative_to(ROOT)}) on 127.0.0.1:{port} -> ", end="")
        else:
            why = "--no-proxy" if args.no_proxy else "nginx is not installed (apt-get install -y nginx)"
            print(f"  proxy: none ({why}): clients talk to gunicorn directly -> ", end="")
        print(
            f"gunicorn ({GUNICORN_CONF.relative_to(ROOT)}, workers: {workers}) on 127.0.0.1:{app_port}; "
            "PostgreSQL, Redis, celery worker + beat"
        )
        meter = CpuMeter(roots, PG_DATABASE)
        kinds = [*roots, "PostgreSQL"]
        return asyncio.run(
            ramp(
                port=port,
                stream_id=data["stream"],
                credentials=data["people"],
                behaviour=behaviour,
                args=args,
                meter=meter,
                server_kinds=kinds,
            )
        )
    finally:
        for process in reversed(processes):
            stop(process)
        try:
            client = redis.Redis.from_url(REDIS_URL)
            client.delete(queue)
            client.close()
        except redis.RedisError:
            pass
        with psycopg.connect(f"{ADMIN_URL}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)


SERVER_KINDS = {"embedded": ("server", "worker"), "production": ("gunicorn", "nginx", "worker", "PostgreSQL")}


def summary(setup: str, steps: list[StepResult], p95_ms: float) -> tuple[int, float]:
    served = largest_served(steps, p95_ms)
    at = next((s for s in steps if s.annotators == served), steps[0] if steps else None)
    cpu = at.cpu_ms_per_judgement(SERVER_KINDS[setup]) if at else math.nan
    return served, cpu


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setups", default="embedded,production", help="comma-separated: embedded, production")
    parser.add_argument("--steps", default="25,50,100,200,400,700,1000,1500", help="annotators per step, ascending")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--think-median", type=float, default=8.0, help="seconds")
    parser.add_argument("--think-sigma", type=float, default=0.8, help="log-normal shape: larger = longer tail")
    parser.add_argument("--think-cap", type=float, default=300.0, help="the longest think time, seconds")
    parser.add_argument("--late", type=float, default=0.03, help="share of items answered after the lease expired")
    parser.add_argument("--skip", type=float, default=0.02, help="share of items skipped")
    parser.add_argument("--api-share", type=float, default=0.2, help="share of annotators on the API")
    parser.add_argument("--lease-minutes", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=12.0, help="unmeasured seconds before the first step")
    parser.add_argument(
        "--arrival-wait", type=float, default=20.0, help="at most this many seconds for the arrivals' first pages"
    )
    parser.add_argument("--samples", type=int, default=300, help="next+submit samples to collect per step")
    parser.add_argument("--min-seconds", type=float, default=20.0, help="shortest measured window per step")
    parser.add_argument("--max-seconds", type=float, default=40.0, help="longest measured window per step")
    parser.add_argument("--budget", type=float, default=340.0, help="seconds of ramp per setup (0: no limit)")
    parser.add_argument("--p95-ms", type=float, default=150.0)
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: deploy/gunicorn.conf.py's)")
    parser.add_argument("--client", choices=("raw", "httpx2"), default="raw", help="the load generator's HTTP client")
    parser.add_argument("--no-proxy", action="store_true", help="production without nginx even when installed")
    parser.add_argument("--quick", action="store_true", help="a ~2-minute smoke run: 2,000 items, steps 20,60")
    parser.add_argument("--populate", help=argparse.SUPPRESS)
    parser.add_argument("--people", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--collectstatic", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.steps, args.samples = 2_000, "20,60", 60
        args.think_median, args.min_seconds, args.max_seconds, args.budget = 3.0, 10.0, 15.0, 60.0
        args.warmup = 5.0
    if not args.populate:
        args.steps = sorted({int(n) for n in str(args.steps).split(",")})
        args.setups = [s.strip() for s in args.setups.split(",") if s.strip()]
        unknown = set(args.setups) - set(SERVER_KINDS)
        if unknown:
            parser.error(f"unknown setups: {', '.join(sorted(unknown))}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.populate:
        return populate_main(args)
    # A connection per person here, two per request in nginx: past the usual soft limit of 1,024
    # open files. The servers started below inherit the raised limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
    behaviour = Behaviour(
        think_median=args.think_median,
        think_sigma=args.think_sigma,
        think_cap=args.think_cap,
        late=args.late,
        skip=args.skip,
        lease_seconds=args.lease_minutes * 60,
    )
    print(
        f"{os.cpu_count()} CPUs; load average {loadavg()}; think time log-normal median {args.think_median:g} s, "
        f"sigma {args.think_sigma:g} (mean cycle ~{behaviour.mean_cycle:.1f} s); {args.late:.0%} late, "
        f"{args.skip:.0%} skipped, {args.api_share:.0%} on the API; steps {','.join(map(str, args.steps))}"
    )
    totals: dict[str, tuple[int, float]] = {}
    for setup in args.setups:
        print(f"\n{setup}:")
        started = time.monotonic()
        steps = (run_embedded if setup == "embedded" else run_production)(args, behaviour)
        totals[setup] = summary(setup, steps, args.p95_ms)
        print(f"  {setup}: served {totals[setup][0]} annotators; {time.monotonic() - started:.0f} s with set-up")
    print()

    def figure(setup: str, index: int) -> str:
        if setup not in totals:
            return "not run"
        value = totals[setup][index]
        return str(value) if index == 0 else f"{value:.1f}"

    served = f"embedded {figure('embedded', 0)}, production {figure('production', 0)}"
    print(f"annotators at p95 <= {args.p95_ms:g} ms: {served}")
    print(f"cpu ms per judgement: embedded {figure('embedded', 1)}, production {figure('production', 1)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
