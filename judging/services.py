"""Writes of the judging room: attaching a judge to a stream, and running it over the stream's items.

**A run** (``run_judge``) takes the stream's work-pool items that have two responses and no verdict
of this judge, and asks the judge's endpoint about each twice: with the responses as the item has
them (shown A = ``responses[0]``) and swapped. Each answer is mapped back to canonical terms; when
both agree the verdict is *consistent* and becomes a ``Judgement`` (``source="model"``, made by
the judge's service user, ``counted=False``, with a submitted ``Assignment`` that leaves the
item's ``claim_count`` and ``judgement_count`` alone, so it never takes a person's place); when
they differ it is *inconsistent* and nothing else is stored; when the endpoint fails it is an
*error*, after retries of transient failures (timeouts, 429, 5xx) with exponential backoff.

**Concurrency.** ``judge.concurrency`` items are in flight at once: threads of the run ask the
model (network only); the run's own thread does every database write, one short transaction per
item, so a run works the same inside a test's transaction, on SQLite and on PostgreSQL.

**Budget.** Before each request (retries included) the run takes one request from the budget
and checks the tokens spent so far; when either is used up it stops, ``stopped: budget``. Tokens
are the usage the endpoint reports, or an estimate (``prompting.estimate_tokens``) when it
reports none, counted apart (``Judge.estimated_tokens``). With ``n`` requests in flight the
token budget can be passed by at most the tokens of those ``n`` answers.

**Liveness** as for exports (``quorum.jobs``): a heartbeat on the run's row, a sweeper that
queues a silent run again or fails it; a run that used its time slice goes back to pending.
Queueing lives in ``judging.tasks``: nothing here queues.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx2 as httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from annotation.models import Assignment, Item, Judgement, gold_answer_correct
from dynamic import llm
from dynamic.models import ModelEndpoint
from judging import prompting
from judging.models import Judge, JudgeRun, Verdict
from projects.models import Stream
from quorum import jobs

log = logging.getLogger(__name__)

# A run stops ("stopped: the endpoint keeps failing") after this many items in a row ended in an
# error: an endpoint that refuses every request should not burn the budget item after item.
ERROR_STREAK = 5
ITEM_BATCH = 100  # items whose text is read per query


# --- Attaching --------------------------------------------------------------------------------
def judge_username(stream: Stream) -> str:
    """A username no person can take: Django's username validator refuses ``:``, so neither a
    form nor an invitation can create or claim it."""
    return f"judge:{stream.pk}:{secrets.token_hex(4)}"


@transaction.atomic
def attach_judge(*, stream: Stream, endpoint: ModelEndpoint, created_by: Any = None, **fields: Any) -> Judge:
    """Attaches ``endpoint`` (of the stream's project) to ``stream`` as its judge, with its service
    user: inactive, with an unusable password, never a member of the project. ``fields``: the
    judge's settings (prompt_template, budgets, concurrency, follow, use_* and suggest_holdout)."""
    user_model = get_user_model()
    user = user_model(username=judge_username(stream), is_active=False, first_name="Model judge")
    user.set_unusable_password()
    user.save()
    fields.setdefault("prompt_template", prompting.DEFAULT_TEMPLATE)
    return Judge.objects.create(stream=stream, endpoint=endpoint, user=user, created_by=created_by, **fields)


def update_judge(*, judge: Judge, **fields: Any) -> Judge:
    """Saves the judge's settings. Raising a budget lets a run stopped by it be started again."""
    for name, value in fields.items():
        setattr(judge, name, value)
    judge.save(update_fields=list(fields))
    return judge


# --- Runs: starting, stopping ----------------------------------------------------------------
def pending_items(judge: Judge) -> QuerySet[Item]:
    """The items the judge has not given a verdict on: the stream's work pool (golden items
    included: they measure the judge; qualification questions are not), two responses each."""
    judged = Verdict.objects.filter(judge=judge, item=OuterRef("pk"))
    return (
        Item.objects.filter(stream_id=judge.stream_id, pool=Item.Pool.WORK, num_responses=2)
        .exclude(Exists(judged))
        .order_by("pk")
    )


def start_run(*, judge: Judge, created_by: Any = None, trigger: str = "pm") -> tuple[JudgeRun, bool]:
    """A pending run of ``judge``, or its open one (one open run per judge, a database
    constraint). Returns (run, created)."""
    open_run = JudgeRun.objects.filter(judge=judge, status__in=[JudgeRun.Status.PENDING, JudgeRun.Status.RUNNING])
    found = open_run.first()
    if found is not None:
        return found, False
    try:
        with transaction.atomic():
            run = JudgeRun.objects.create(
                judge=judge, created_by=created_by, trigger=trigger, items_total=pending_items(judge).count()
            )
    except IntegrityError:  # another request started one at the same moment
        return open_run.get(), False
    return run, True


def stop_run(*, run: JudgeRun, now: datetime | None = None) -> bool:
    """Stops an open run (a PM's decision). A running one notices at its next heartbeat (its row
    no longer says running: ``quorum.jobs.Heartbeat``) and leaves after the items in flight."""
    return bool(
        JudgeRun.objects.filter(pk=run.pk, status__in=[JudgeRun.Status.PENDING, JudgeRun.Status.RUNNING]).update(
            status=JudgeRun.Status.STOPPED, stop_reason=JudgeRun.StopReason.PM, finished_at=now or timezone.now()
        )
    )


def retry_errors(*, judge: Judge) -> int:
    """Forgets the judge's verdicts that ended in an error, so the next run asks about those items
    again. Returns how many."""
    deleted, _ = Verdict.objects.filter(judge=judge, status=Verdict.Status.ERROR).delete()
    return deleted


def runs_to_follow() -> list[int]:
    """Periodic: a pending run for every active judge set to follow its stream that has items
    without a verdict, no open run and budget left. Returns the new runs' ids."""
    started = []
    judges = Judge.objects.filter(is_active=True, follow=True, endpoint__is_active=True).exclude(
        Exists(JudgeRun.objects.filter(judge=OuterRef("pk"), status__in=["pending", "running"]))
    )
    for judge in judges:
        if not judge.budget_left or not pending_items(judge).exists():
            continue
        run, created = start_run(judge=judge, trigger="follow")
        if created:
            started.append(run.pk)
    return started


def runs_to_queue(*, now: datetime | None = None) -> list[int]:
    """Pending runs no worker has been sent yet, or whose message was sent longer ago than the
    stale time (a lost message); marked as sent now. The caller queues them."""
    now = now or timezone.now()
    ids = []
    for run in JudgeRun.objects.filter(status=JudgeRun.Status.PENDING).order_by("created_at"):
        if run.queued_at is not None and run.queued_at > jobs.stale_before(now):
            continue
        if JudgeRun.objects.filter(pk=run.pk, status=JudgeRun.Status.PENDING, queued_at=run.queued_at).update(
            queued_at=now
        ):
            ids.append(run.pk)
    return ids


def sweep_stale_runs(*, now: datetime | None = None) -> list[int]:
    """Running runs whose heartbeat is older than ``QUORUM_JOB_STALE_SECONDS`` lost their worker:
    back to pending for another attempt (returned; ``runs_to_queue`` hands them out), or failed with the
    reason after ``QUORUM_JOB_MAX_ATTEMPTS`` runs. The verdicts written so far stay."""
    now = now or timezone.now()
    requeue = []
    stale = JudgeRun.objects.filter(status=JudgeRun.Status.RUNNING, heartbeat_at__lt=jobs.stale_before(now))
    for run in stale:
        rows = JudgeRun.objects.filter(pk=run.pk, status=JudgeRun.Status.RUNNING, attempts=run.attempts)
        if run.attempts < jobs.max_attempts():
            if rows.update(status=JudgeRun.Status.PENDING, queued_at=None):
                requeue.append(run.pk)
        else:
            reason = jobs.lost_reason(heartbeat_at=run.heartbeat_at, attempts=run.attempts)
            rows.update(status=JudgeRun.Status.FAILED, last_error=reason[:500], finished_at=now)
    return requeue


# --- Runs: judging -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ItemText:
    pk: int
    context: list[dict[str, Any]]
    responses: list[Any]
    is_golden: bool
    golden_answers: list[str]
    golden_harmful: bool


@dataclass
class Ask:
    """One display order's answer (or why there is none)."""

    order: tuple[int, int]
    answer: prompting.Answer | None = None
    canonical: str = ""


@dataclass
class Outcome:
    """What asking about one item gave: both answers, or an error, or a budget that ran out
    before both were asked. ``requests``/``tokens`` were spent either way."""

    item: ItemText
    started_at: datetime
    asks: list[Ask] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_tokens: int = 0
    error: str = ""
    error_detail: str = ""
    retry_errors: list[tuple[str, str]] = field(default_factory=list)  # (message, detail) of retried failures
    out_of_budget: bool = False
    # The endpoint could not be reached even after the retries: the item is left for a later
    # run (no verdict), and the run stops.
    unreachable: bool = False

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Budget:
    """The judge's budget as the run spends it, shared by the run's threads."""

    def __init__(self, judge: Judge) -> None:
        self._lock = threading.Lock()
        self.requests_left = judge.budget_requests - judge.spent_requests
        self.tokens_left = judge.budget_tokens - judge.spent_tokens
        self.exhausted = threading.Event()

    def take_request(self) -> bool:
        """One request, if both budgets have room (checked before every request)."""
        with self._lock:
            if self.requests_left <= 0 or self.tokens_left <= 0:
                self.exhausted.set()
                return False
            self.requests_left -= 1
            return True

    def spend_tokens(self, tokens: int) -> None:
        with self._lock:
            self.tokens_left -= tokens


def _retry_delays() -> list[float]:
    base = settings.QUORUM_JUDGE_BACKOFF_MS / 1000
    return [base * 2**n for n in range(int(settings.QUORUM_JUDGE_RETRIES))]


def ask_item(*, endpoint: ModelEndpoint, template: str, guidelines: str, item: ItemText, budget: Budget) -> Outcome:
    """Asks the judge about one item in both display orders (a thread of the run; no database).
    Transient failures are retried after 1×, 2×, 4×... ``QUORUM_JUDGE_BACKOFF_MS``, up to
    ``QUORUM_JUDGE_RETRIES`` times per order; every request takes one from the budget first."""
    outcome = Outcome(item=item, started_at=timezone.now())
    for order in prompting.SHOWN_ORDERS:
        prompt = prompting.render(
            template, guidelines=guidelines, context=item.context, responses=item.responses, order=order
        )
        delays = _retry_delays()
        while True:
            if not budget.take_request():
                outcome.out_of_budget = True
                return outcome
            outcome.requests += 1
            try:
                result = llm.stream_chat(endpoint, [{"role": "user", "content": prompt}])
            except llm.GenerationError as exc:
                if exc.transient and delays:
                    outcome.retries += 1
                    outcome.retry_errors.append((exc.message, exc.detail))
                    time.sleep(delays.pop(0))
                    continue
                outcome.error, outcome.error_detail = exc.message, exc.detail
                outcome.unreachable = _unreachable(exc)
                return outcome
            _count_tokens(outcome, budget, prompt, result)
            try:
                answer = prompting.parse_answer(result.text)
            except prompting.UnreadableAnswer as exc:
                outcome.error = "The judge's answer could not be read."
                outcome.error_detail = str(exc)
                return outcome
            outcome.asks.append(Ask(order=order, answer=answer, canonical=prompting.canonical(answer.shown, order)))
            break
    return outcome


def _unreachable(exc: BaseException) -> bool:
    """Nothing answered at all (connection refused, no route): the endpoint is down, which says
    nothing about the item."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, httpx.ConnectError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _count_tokens(outcome: Outcome, budget: Budget, prompt: str, result: llm.ChatResult) -> None:
    prompt_tokens, completion_tokens = result.prompt_tokens, result.completion_tokens
    if prompt_tokens is None or completion_tokens is None:
        prompt_tokens = prompt_tokens if prompt_tokens is not None else prompting.estimate_tokens(prompt)
        completion_tokens = (
            completion_tokens if completion_tokens is not None else prompting.estimate_tokens(result.text)
        )
        outcome.estimated_tokens += prompt_tokens + completion_tokens
    outcome.prompt_tokens += prompt_tokens
    outcome.completion_tokens += completion_tokens
    budget.spend_tokens(prompt_tokens + completion_tokens)


def _items(judge: Judge) -> Iterator[ItemText]:
    """The run's items, read a batch at a time (ids first: items imported meanwhile wait for the
    next run)."""
    ids = list(pending_items(judge).values_list("pk", flat=True))
    for start in range(0, len(ids), ITEM_BATCH):
        batch = Item.objects.filter(pk__in=ids[start : start + ITEM_BATCH]).order_by("pk")
        for item in batch.only("pk", "context", "responses", "is_golden", "golden_answers", "golden_harmful"):
            yield ItemText(
                item.pk, item.context, item.responses, item.is_golden, list(item.golden_answers), item.golden_harmful
            )


def record_outcome(*, judge: Judge, run: JudgeRun, outcome: Outcome, now: datetime | None = None) -> Verdict | None:
    """Stores what one item gave (the run's own thread, one transaction): the spend on the judge
    and the run, and — unless the budget ran out before both orders were asked — the verdict,
    with its judgement when it is consistent. An item judged already (a run that lost its worker
    and came back) keeps its first verdict."""
    now = now or timezone.now()
    verdict: Verdict | None = None
    with transaction.atomic():
        Judge.objects.filter(pk=judge.pk).update(
            spent_requests=F("spent_requests") + outcome.requests,
            spent_tokens=F("spent_tokens") + outcome.tokens,
            estimated_tokens=F("estimated_tokens") + outcome.estimated_tokens,
        )
        run_update: dict[str, Any] = {
            "requests": F("requests") + outcome.requests,
            "retries": F("retries") + outcome.retries,
            "tokens": F("tokens") + outcome.tokens,
        }
        last = (outcome.error, outcome.error_detail) if outcome.error else None
        if last is None and outcome.retry_errors:
            last = outcome.retry_errors[-1]
        if last is not None:
            run_update["last_error"], run_update["last_error_detail"] = last[0][:500], last[1]
        complete = len(outcome.asks) == len(prompting.SHOWN_ORDERS)
        if (outcome.error and not outcome.unreachable) or complete:
            try:
                with transaction.atomic():
                    verdict = _store_verdict(judge=judge, run=run, outcome=outcome, now=now)
            except IntegrityError:
                verdict = None  # judged already
            if verdict is not None:
                counter = {"consistent": "consistent", "inconsistent": "inconsistent", "error": "errors"}[
                    verdict.status
                ]
                run_update[counter] = F(counter) + 1
        JudgeRun.objects.filter(pk=run.pk).update(**run_update)
    return verdict


_RUN_COUNTER = {"consistent": "consistent", "inconsistent": "inconsistent", "error": "errors"}


def _store_verdict(*, judge: Judge, run: JudgeRun, outcome: Outcome, now: datetime) -> Verdict:
    item = outcome.item
    answers = {ask.order: ask for ask in outcome.asks}
    shown_ab, shown_ba = answers.get(prompting.SHOWN_ORDERS[0]), answers.get(prompting.SHOWN_ORDERS[1])
    if outcome.error:
        status = Verdict.Status.ERROR
    elif shown_ab is not None and shown_ba is not None and shown_ab.canonical == shown_ba.canonical:
        status = Verdict.Status.CONSISTENT
    else:
        status = Verdict.Status.INCONSISTENT
    verdict = Verdict(
        judge=judge,
        item_id=item.pk,
        run=run,
        status=status,
        answer_shown_ab=shown_ab.canonical if shown_ab else "",
        answer_shown_ba=shown_ba.canonical if shown_ba else "",
        reason_shown_ab=shown_ab.answer.reason if shown_ab and shown_ab.answer else "",
        reason_shown_ba=shown_ba.answer.reason if shown_ba and shown_ba.answer else "",
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
        tokens_estimated=outcome.estimated_tokens > 0,
        attempts=outcome.requests,
        error=outcome.error[:500],
        error_detail=outcome.error_detail,
        created_at=now,
    )
    if status == Verdict.Status.CONSISTENT:
        assert shown_ab is not None
        assert shown_ab.answer is not None
        verdict.judgement = _store_judgement(
            judge=judge, item=item, choice=shown_ab.canonical, reason=shown_ab.answer.reason, outcome=outcome, now=now
        )
    verdict.save()
    return verdict


def idempotency_key(*, judge_id: int, item_id: int) -> str:
    return f"judge-{judge_id}-item-{item_id}"


def _store_judgement(
    *, judge: Judge, item: ItemText, choice: str, reason: str, outcome: Outcome, now: datetime
) -> Judgement:
    """The judge's judgement on ``item``: made by its service user through a submitted assignment
    (the judgement needs one) that was never a lease, so the item's ``claim_count`` and
    ``judgement_count`` — the overlap people fill — do not move; ``counted=False``; no submit
    hook runs (no review sampling, no gold rule)."""
    assignment, _ = Assignment.objects.get_or_create(
        item_id=item.pk,
        annotator_id=judge.user_id,
        defaults={
            "stream_id": judge.stream_id,
            "status": Assignment.Status.SUBMITTED,
            "display_order": [0, 1],
            "served_at": outcome.started_at,
            "lease_expires_at": now,
            "finished_at": now,
        },
    )
    gold_correct = (
        gold_answer_correct(
            choice=choice, flag_harmful=False, golden_answers=item.golden_answers, golden_harmful=item.golden_harmful
        )
        if item.is_golden
        else None
    )
    return Judgement.objects.create(
        assignment=assignment,
        item_id=item.pk,
        stream_id=judge.stream_id,
        annotator_id=judge.user_id,
        choice=choice,
        rationale=reason,
        # Both orders were shown; the judgement stands for the first (the item's own order).
        display_order=[0, 1],
        served_at=outcome.started_at,
        submitted_at=now,
        idempotency_key=idempotency_key(judge_id=judge.pk, item_id=item.pk),
        counted=False,
        gold_correct=gold_correct,
        source=Judgement.Source.MODEL,
    )


def claim_run(*, run_id: int, now: datetime | None = None) -> JudgeRun | None:
    """Takes a pending run for this worker (pending → running, one more attempt): None when it is
    not pending (done, stopped, or another worker's)."""
    now = now or timezone.now()
    run = JudgeRun.objects.filter(pk=run_id).first()
    if run is None or run.status != JudgeRun.Status.PENDING:
        return None
    claimed = JudgeRun.objects.filter(pk=run_id, status=JudgeRun.Status.PENDING, attempts=run.attempts).update(
        status=JudgeRun.Status.RUNNING, attempts=run.attempts + 1, heartbeat_at=now, started_at=run.started_at or now
    )
    if not claimed:
        return None
    run.refresh_from_db()
    return run


def run_judge(*, run_id: int, max_seconds: float | None = None) -> str:
    """Runs one judge run for at most ``max_seconds`` (default ``QUORUM_JUDGE_SLICE_SECONDS``).
    Returns the run's status afterwards: "pending" when the slice ended with items left (the
    caller queues it again), else "done", "stopped" or "failed", or "" when the run was not
    pending. A run that loses its job (``quorum.jobs.JobLost``: stopped by a PM, or taken for
    dead) writes the items in flight and leaves."""
    run = claim_run(run_id=run_id)
    if run is None:
        return ""
    judge = Judge.objects.select_related("endpoint__project", "stream").get(pk=run.judge_id)
    if not judge.is_active or not judge.endpoint.is_active:
        _finish(run, JudgeRun.Status.STOPPED, JudgeRun.StopReason.INACTIVE)
        return JudgeRun.Status.STOPPED
    deadline = time.monotonic() + float(max_seconds if max_seconds is not None else settings.QUORUM_JUDGE_SLICE_SECONDS)
    rows = JudgeRun.objects.filter(pk=run.pk, status=JudgeRun.Status.RUNNING, attempts=run.attempts)
    try:
        with jobs.Heartbeat(rows, thread=connection.vendor != "sqlite") as beat:
            status, reason = _judge_items(judge, run, deadline, beat)
    except jobs.JobLost:
        return JudgeRun.objects.filter(pk=run.pk).values_list("status", flat=True).get()
    except Exception as exc:
        log.exception("judge run %s failed", run.pk)
        rows.update(
            status=JudgeRun.Status.FAILED,
            last_error="The run failed; see the server log.",
            last_error_detail=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        return JudgeRun.Status.FAILED
    if status == JudgeRun.Status.PENDING:
        rows.update(status=JudgeRun.Status.PENDING, queued_at=None)
    else:
        _finish(run, status, reason, rows=rows)
    return status


def _finish(run: JudgeRun, status: str, reason: str, *, rows: QuerySet[JudgeRun] | None = None) -> None:
    rows = rows if rows is not None else JudgeRun.objects.filter(pk=run.pk)
    rows.update(status=status, stop_reason=reason, finished_at=timezone.now())


def _judge_items(judge: Judge, run: JudgeRun, deadline: float, beat: jobs.Heartbeat) -> tuple[str, str]:
    """The run's loop: keeps ``judge.concurrency`` items in flight on a thread pool and writes each
    outcome as it arrives. Returns (status, stop reason)."""
    budget = Budget(judge)
    items = _items(judge)
    streak = 0
    reason = ""
    finished = True  # every item was asked about
    in_flight: set[Future[Outcome]] = set()
    width = max(1, judge.concurrency)
    guidelines = judge.stream.guidelines
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix=f"judge-{judge.pk}") as pool:
        while True:
            stopping = bool(reason) or budget.exhausted.is_set() or beat.lost.is_set()
            if not stopping and time.monotonic() >= deadline:
                stopping, finished = True, False
            while not stopping and len(in_flight) < width:
                item = next(items, None)
                if item is None:
                    break
                in_flight.add(
                    pool.submit(
                        ask_item,
                        endpoint=judge.endpoint,
                        template=judge.prompt_template,
                        guidelines=guidelines,
                        item=item,
                        budget=budget,
                    )
                )
            if not in_flight:
                break
            done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                outcome = future.result()
                verdict = record_outcome(judge=judge, run=run, outcome=outcome)
                if outcome.unreachable and not reason:
                    reason = JudgeRun.StopReason.UNREACHABLE
                streak = streak + 1 if verdict is not None and verdict.status == Verdict.Status.ERROR else 0
                if streak >= ERROR_STREAK and not reason:
                    reason = JudgeRun.StopReason.ERRORS
                beat.beat(force=True)
    beat.check()  # stopped by a PM or taken for dead: the items in flight are written, now leave
    if budget.exhausted.is_set():
        return JudgeRun.Status.STOPPED, JudgeRun.StopReason.BUDGET
    if reason:
        return JudgeRun.Status.STOPPED, reason
    if not finished:
        return JudgeRun.Status.PENDING, ""
    return JudgeRun.Status.DONE, ""
