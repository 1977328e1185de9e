"""What the fault suites share: data to judge, simulated annotators that submit over HTTP and retry
the way a careful client does, the count of acknowledged against stored judgements, gunicorn and
Celery processes to kill, and a private PostgreSQL cluster to stop.

The annotators' rule: a judgement is *acknowledged* when the server answered 2xx. Anything else —
a 5xx, a refused or reset connection, a timeout — is not an acknowledgement, and the client sends
the same answer again with the same ``Idempotency-Key`` until it is (the API stores a repeat of a
key once and answers 200 with the stored judgement). After the run the database must hold exactly
one judgement for every acknowledged assignment (0 lost) and never two for one annotator and item
(0 duplicated).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path
from typing import Any

import pytest

from tests.processes import BASE_DIR, clean_environ, stop, tail

RESULTS: list[tuple[str, dict[str, Any]]] = []  # printed in the terminal summary (conftest.py)


def record(suite: str, **figures: Any) -> None:
    """Keeps a suite's figures for the summary, and prints them (visible with ``-s``)."""
    RESULTS.append((suite, figures))
    print(f"\n[faults] {suite}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- Data ----------------------------------------------------------------------------------------
def judging_setup(*, items: int, annotators: int, overlap: int = 1) -> tuple[int, list[str]]:
    """A project with one active stream of ``items`` pairwise items and ``annotators`` qualified
    annotators with API tokens, committed (the caller uses ``transactional_db``). Returns the
    stream id and the tokens."""
    from annotation.models import Item
    from projects.models import ApiToken, Role, Stream, StreamMembership
    from tests.factories import MembershipFactory, StreamFactory, StreamMembershipFactory, UserFactory

    stream = StreamFactory.create(overlap=overlap, lease_minutes=10, status=Stream.Status.ACTIVE)
    Item.objects.bulk_create(
        Item(
            stream=stream,
            external_id=f"q{n}",
            context=[{"role": "user", "content": f"Question {n}?"}],
            responses=[{"text": f"Short answer {n}."}, {"text": f"A longer answer to question {n}."}],
            num_responses=2,
            content_hash=f"hash-{n}",
        )
        for n in range(items)
    )
    keys = []
    for n in range(annotators):
        user = UserFactory.create(username=f"annotator-{uuid.uuid4().hex[:6]}-{n}")
        MembershipFactory.create(project=stream.project, user=user, role=Role.ANNOTATOR)
        StreamMembershipFactory.create(stream=stream, user=user, status=StreamMembership.Status.QUALIFIED)
        keys.append(ApiToken.generate(user=user, name="faults")[1])
    return stream.pk, keys


# --- Annotators over HTTP ------------------------------------------------------------------------
@dataclass
class Tally:
    acknowledged: set[int] = field(default_factory=set)  # assignment ids answered 2xx
    statuses: Counter[str] = field(default_factory=Counter)  # every answer the clients saw
    retries: int = 0  # submits sent again after a failure
    errors: list[str] = field(default_factory=list)  # a client that gave up (must stay empty)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, what: str) -> None:
        with self.lock:
            self.statuses[what] += 1


def _send(port: int, method: str, path: str, headers: dict[str, str], body: bytes | None) -> tuple[int, bytes]:
    """One request on a fresh connection (a killed worker takes its keep-alive sockets with it)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _until_answered(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes | None, tally: Tally, deadline: float
) -> tuple[int, bytes]:
    """Sends until the server answers something other than a 5xx (same headers, same key)."""
    first = True
    while True:
        if not first:
            with tally.lock:
                tally.retries += method == "POST"
            time.sleep(0.2)
        first = False
        try:
            status, data = _send(port, method, path, headers, body)
        except (OSError, http.client.HTTPException) as exc:
            tally.saw(type(exc).__name__)
        else:
            tally.saw(f"{method} {status}")
            if status < 500:
                return status, data
        if time.monotonic() > deadline:
            raise TimeoutError(f"{method} {path}: no answer but errors until the deadline")


def annotate(port: int, key: str, stream_id: int, tally: Tally, stop_at: float, give_up_at: float) -> None:
    """One annotator: next item, then the answer, until ``stop_at`` (no new item after it) or the
    stream runs dry. An answer already sent is sent again until acknowledged, up to ``give_up_at``."""
    auth = {"Authorization": f"Token {key}", "Accept": "application/json"}
    rng = random.Random(key)
    try:
        while time.monotonic() < stop_at:
            status, body = _until_answered(
                port, "GET", f"/api/streams/{stream_id}/next/", auth, None, tally, give_up_at
            )
            if status == 204:
                return
            if status != 200:
                raise RuntimeError(f"next: {status} {body[:200]!r}")
            assignment = json.loads(body)["assignment"]
            answer = {"choice": rng.choice(["A", "B", "tie"]), "strength": 2, "active_seconds": 3.0}
            headers = {**auth, "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
            path = f"/api/assignments/{assignment}/judgement/"
            status, body = _until_answered(port, "POST", path, headers, json.dumps(answer).encode(), tally, give_up_at)
            if status not in (200, 201):
                raise RuntimeError(f"judgement: {status} {body[:200]!r}")
            with tally.lock:
                tally.acknowledged.add(assignment)
    except Exception as exc:
        with tally.lock:
            tally.errors.append(repr(exc))


def run_annotators(port: int, keys: list[str], stream_id: int, *, seconds: float, grace: float = 40.0) -> Tally:
    tally = Tally()
    stop_at = time.monotonic() + seconds
    threads = [
        threading.Thread(target=annotate, args=(port, key, stream_id, tally, stop_at, stop_at + grace), daemon=True)
        for key in keys
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + grace + 20)
    return tally


@dataclass(frozen=True)
class Counts:
    acknowledged: int
    stored: int
    lost: int
    duplicated: int


def count(tally: Tally, rows: list[tuple[int, int, int]]) -> Counts:
    """``rows``: (assignment id, item id, annotator id) of every judgement stored in the stream."""
    stored = {assignment for assignment, _, _ in rows}
    per_pair = Counter((item, annotator) for _, item, annotator in rows)
    return Counts(
        acknowledged=len(tally.acknowledged),
        stored=len(rows),
        lost=len(tally.acknowledged - stored),
        duplicated=sum(n - 1 for n in per_pair.values() if n > 1) + (len(rows) - len(stored)),
    )


JUDGEMENT_ROWS_SQL = "SELECT assignment_id, item_id, annotator_id FROM annotation_judgement WHERE stream_id = %s"


# --- gunicorn ------------------------------------------------------------------------------------
def gunicorn_env(database_url: str, **extra: str) -> dict[str, str]:
    """Production-like settings without Redis (eager Celery; nothing here queues work)."""
    return clean_environ(
        DJANGO_SETTINGS_MODULE="quorum.settings",
        QUORUM_ENV="development",
        DEBUG="0",
        SECRET_KEY="faults-" + "x" * 50,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        DATABASE_URL=database_url,
        DB_CONN_MAX_AGE="600",
        LOG_LEVEL="error",
        **extra,
    )


@contextlib.contextmanager
def gunicorn(env: dict[str, str], log: Path, *, workers: int) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("gunicorn")), "quorum.wsgi:application", "--bind", f"127.0.0.1:{port}",
        "--worker-class", "gthread", "--workers", str(workers), "--threads", "2", "--timeout", "30",
        "--log-level", "warning",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = _send(port, "GET", "/api/projects/", {}, None)
                if status in (200, 401, 403):
                    break
            except OSError:
                pass
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited with {process.returncode}:\n{tail(log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not answer in 60 s:\n{tail(log)}")
            time.sleep(0.2)
        yield process, port
    finally:
        stop(process)


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (gunicorn's workers, a Celery worker's pool processes)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its closing parenthesis.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state not in ("Z", "X"):  # a killed child not yet reaped is gone
            found.append(int(entry))
    return found


def talks_to(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a TCP connection to ``port`` on this machine (a web worker
    that has served a request keeps its database connection: it is up, not still booting)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    except OSError:
        return False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if int(parts[2].rsplit(":", 1)[1], 16) == port and parts[9] in inodes:
                    return True
    return False


# --- A private PostgreSQL cluster ----------------------------------------------------------------
def postgres_bin() -> Path | None:
    """Debian's server binaries (``/usr/lib/postgresql/<version>/bin``), the newest version."""
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3].split(".")[0]))
    return Path(found[-1]).parent if found else None


@dataclass
class Cluster:
    """A PostgreSQL server of the test's own: its data directory in a temporary directory, on a
    free port, never the machine's shared server."""

    bin: Path
    root: Path
    port: int
    user: str | None  # run the server binaries as this user (root may not run PostgreSQL)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=timeout)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options,
                  "-w", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def log(self) -> str:
        return tail(self.root / "server.log")


@contextlib.contextmanager
def private_cluster() -> Iterator[Cluster]:
    """Starts a private cluster (skips the test, saying why, when it cannot); removes it after."""
    bin_dir = postgres_bin()
    if bin_dir is None or not (bin_dir / "pg_ctl").exists():
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): cannot start a private cluster")
    if shutil.which("runuser") is None and os.geteuid() == 0:
        pytest.skip("running as root without runuser: cannot run initdb as another user")
    user = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run a private cluster as")
        user = "postgres"
    root = Path(tempfile.mkdtemp(prefix="quorum-faults-pg-"))
    if user:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    cluster = Cluster(bin=bin_dir, root=root, port=free_port(), user=user)
    try:
        try:
            cluster.init()
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"could not start a private PostgreSQL cluster: {exc.stderr or exc.stdout}")
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def kill(pid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
