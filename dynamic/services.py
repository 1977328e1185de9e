"""Dynamic labeling: an annotator chats with two anonymous live models and judges every turn.

The writes of the flow (STYLE 3), in the order they happen::

    send_message      the annotator's message → a Turn and one pending Generation per candidate,
                      which the caller queues (``dynamic.tasks.queue_turn``, on commit) to workers
                      that stream the answers in parallel
    run_generation    (in a worker) streams one answer into its Generation row, a few writes a
                      second, then marks the turn ready (all done) or failed (one failed)
    retry_generations a failed or stalled answer is asked for again (visible, never silent)
    sweep_stale_generations  (periodic) an answer whose worker died is asked again, or failed
                      with the reason (quorum/jobs.py)
    judge_turn        the turn becomes an Item (context = the conversation so far) with an
                      Assignment and a Judgement stored by ``services.submit_judgement`` — so
                      golden checks, metrics, review and export see it as static data — and the
                      preferred answer joins the conversation
    end_conversation  the annotator stops (or the stream's max_turns is reached)

Each conversation samples two of the stream's endpoints (weighted) and shows them in a random
order (``Conversation.display_order``) that stays the same for the whole conversation, so "A" is
one model throughout. Everything is saved as it happens: a closed tab loses nothing, and the
conversation resumes where it was.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.db import IntegrityError, transaction
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.text import slugify

from annotation import selectors, services
from annotation.models import Assignment, Item, Judgement
from dynamic import llm
from dynamic.evalfile import EvalFile
from dynamic.models import (
    TRUNCATED_FINISH,
    Conversation,
    ConversationCandidate,
    ConversationStarter,
    Generation,
    ModelEndpoint,
    StreamEndpoint,
    Turn,
)
from projects.models import Project, Stream
from quorum import jobs

log = logging.getLogger(__name__)

CANDIDATES = 2  # pairwise: each conversation compares two models
FLUSH_SECONDS = 0.15  # how often a streaming answer is written for the page to poll
STALL_GRACE_SECONDS = 30  # beyond the endpoint's timeout, before a silent generation counts as stalled


class ConversationError(Exception):
    """The action does not fit the conversation's state. The message is safe to show."""


# --- Reads --------------------------------------------------------------------------------------
def can_converse(stream: Stream) -> bool:
    """For a stream from ``selectors.streams_with_standing``: may this user chat and judge in it?
    The same rule as ``selectors.can_annotate``, for dynamic streams."""
    return selectors.may_work(stream) and stream.mode == Stream.Mode.DYNAMIC


def stream_endpoints(stream: Stream) -> list[StreamEndpoint]:
    """The stream's active endpoints that can be drawn (weight > 0)."""
    return list(
        StreamEndpoint.objects.filter(stream=stream, weight__gt=0, endpoint__is_active=True)
        .select_related("endpoint")
        .order_by("endpoint__name")
    )


def open_conversation(*, stream: Stream, annotator: Any) -> Conversation | None:
    return (
        Conversation.objects.filter(stream=stream, annotator=annotator, status=Conversation.Status.OPEN)
        .order_by("-created_at")
        .first()
    )


def generations_prefetch() -> Prefetch:
    """A turn's generations with their endpoints, as the pages show them (one query per page)."""
    return Prefetch("generations", queryset=Generation.objects.select_related("endpoint"))


def turns_of(conversation: Conversation) -> QuerySet[Turn]:
    return conversation.turns.prefetch_related(generations_prefetch()).order_by("index")


def is_stalled(generation: Generation, endpoint: ModelEndpoint, now: datetime | None = None) -> bool:
    """A pending or streaming generation that has not moved for longer than its endpoint may take
    (its task was lost, or the model hangs), or a streaming one whose worker stopped beating for
    ``QUORUM_JOB_STALE_SECONDS`` (its worker died; the sweeper will ask again too). The page offers
    a retry."""
    if generation.status not in (Generation.Status.PENDING, Generation.Status.STREAMING):
        return False
    now = now or timezone.now()
    limit = timedelta(seconds=endpoint.timeout_seconds + STALL_GRACE_SECONDS)
    if now - generation.updated_at > limit:
        return True
    live = generation.liveness()
    return bool(live is not None and live.stale)


# --- Starting and sending -----------------------------------------------------------------------
def sample_endpoints(
    candidates: list[StreamEndpoint], k: int = CANDIDATES, rng: random.Random | None = None
) -> list[ModelEndpoint]:
    """``k`` distinct endpoints drawn without replacement, each draw proportional to the weights of
    those not yet drawn (so weights 2:1:1 give the first endpoint a part in 5 of 6 conversations)."""
    rng = rng or random.Random()
    pool = list(candidates)
    chosen: list[ModelEndpoint] = []
    for _ in range(k):
        total = sum(c.weight for c in pool)
        pick = rng.uniform(0, total)
        upto = 0.0
        for index, candidate in enumerate(pool):
            upto += candidate.weight
            if pick <= upto or index == len(pool) - 1:
                chosen.append(candidate.endpoint)
                pool.pop(index)
                break
    return chosen


def next_starter(*, stream: Stream, annotator: Any) -> ConversationStarter | None:
    """The prompt offered for the annotator's next conversation: among the stream's starters they
    have not started from yet, the one fewest conversations started from (then the oldest), so the
    stream's prompts are covered evenly. None when the stream has none left for them. One query."""
    used = Conversation.objects.filter(stream=stream, annotator=annotator, starter__isnull=False).values("starter_id")
    return (
        ConversationStarter.objects.filter(stream=stream)
        .exclude(pk__in=used)
        .annotate(uses=Count("conversations"))
        .order_by("uses", "id")
        .first()
    )


def start_conversation(
    *, stream: Stream, annotator: Any, rng: random.Random | None = None, starter_id: int | None = None
) -> Conversation:
    """A new conversation with two sampled endpoints in a random display order, started from the
    stream's starter ``starter_id`` when it is one of the stream's (anything else is ignored).
    Raises ``ConversationError`` when the stream has fewer than two usable endpoints."""
    candidates = stream_endpoints(stream)
    if len(candidates) < CANDIDATES:
        raise ConversationError(
            "This stream needs at least two active model endpoints; ask your project manager to add them."
        )
    rng = rng or random.Random()
    endpoints = sample_endpoints(candidates, rng=rng)
    order = list(range(len(endpoints)))
    rng.shuffle(order)
    starter = ConversationStarter.objects.filter(stream=stream, pk=starter_id).first() if starter_id else None
    conversation = Conversation.objects.create(stream=stream, annotator=annotator, display_order=order, starter=starter)
    ConversationCandidate.objects.bulk_create(
        ConversationCandidate(conversation=conversation, position=position, endpoint=endpoint)
        for position, endpoint in enumerate(endpoints)
    )
    return conversation


def send_message(
    *, stream: Stream, annotator: Any, text: str, now: datetime | None = None, starter_id: int | None = None
) -> Turn:
    """Adds the annotator's message as the next turn of their open conversation (starting one if
    there is none) and queues one generation per candidate. The conversation row is locked, so a
    double click or a second tab cannot start two turns; the previous turn must be judged first.
    ``starter_id``: the starter the page offered (a new conversation records it). Raises
    ``ConversationError``."""
    now = now or timezone.now()
    text = text.strip()
    if not text:
        raise ConversationError("Write a message first.")
    with transaction.atomic():
        conversation = open_conversation(stream=stream, annotator=annotator)
        if conversation is None:
            try:
                with transaction.atomic():
                    conversation = start_conversation(stream=stream, annotator=annotator, starter_id=starter_id)
            except IntegrityError:
                # Another tab started one at the same moment (``conversation_one_open``): use it.
                conversation = open_conversation(stream=stream, annotator=annotator)
                if conversation is None:
                    raise
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conversation.status != Conversation.Status.OPEN:
            raise ConversationError("This conversation has ended.")
        last = conversation.turns.order_by("-index").first()
        if last is not None and last.status != Turn.Status.JUDGED:
            raise ConversationError("Judge the answers to your last message first.")
        index = last.index + 1 if last is not None else 0
        if index >= stream.max_turns:
            raise ConversationError(f"This conversation has reached the stream's limit of {stream.max_turns} turns.")
        turn = Turn.objects.create(conversation=conversation, index=index, user_message=text, created_at=now)
        Generation.objects.bulk_create(
            Generation(turn=turn, position=c.position, endpoint_id=c.endpoint_id, attempts=1, updated_at=now)
            for c in conversation.candidates.all()
        )
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=now)
    return turn


def pending_jobs(*, turn_id: int) -> list[tuple[int, int]]:
    """The turn's generations waiting for a worker, as (generation id, attempt) jobs to queue."""
    return list(
        Generation.objects.filter(turn_id=turn_id, status=Generation.Status.PENDING)
        .order_by("position")
        .values_list("pk", "attempts")
    )


# --- Generating ---------------------------------------------------------------------------------
def conversation_context(conversation: Conversation, turn: Turn) -> list[dict[str, str]]:
    """What the models see and what the turn's Item stores as its context: the conversation so far
    (user messages and the preferred answers) and the new user message."""
    history = [{"role": str(m["role"]), "content": str(m["content"])} for m in conversation.messages]
    return [*history, {"role": "user", "content": turn.user_message}]


def run_generation(*, generation_id: int, attempt: int) -> str:
    """Streams one candidate's answer into ``Generation`` ``generation_id``. Idempotent: only a
    pending generation of this ``attempt`` is run (a redelivered or superseded task does nothing),
    and every write is conditional on the attempt, so a late task of an old attempt cannot
    overwrite a retry. While it streams it beats (``quorum.jobs.Heartbeat``, also while the model
    has not answered yet); a run the sweeper gave to a new attempt stops at its next token.
    Returns the final status ("lost" for such a run)."""
    now = timezone.now()
    current = Generation.objects.filter(pk=generation_id, attempts=attempt)
    if not current.filter(status=Generation.Status.PENDING).update(
        status=Generation.Status.STREAMING, started_at=now, updated_at=now, heartbeat_at=now
    ):
        return "skipped"
    generation = Generation.objects.select_related("endpoint", "turn__conversation").get(pk=generation_id)
    messages = conversation_context(generation.turn.conversation, generation.turn)
    last_flush = 0.0
    beat = jobs.Heartbeat(current.filter(status=Generation.Status.STREAMING))

    def on_text(text: str) -> None:
        nonlocal last_flush
        beat.check()
        if time.monotonic() - last_flush >= FLUSH_SECONDS:
            current.update(text=text, updated_at=timezone.now())
            last_flush = time.monotonic()

    try:
        with beat:
            result = llm.stream_chat(generation.endpoint, messages, on_text=on_text)
    except jobs.JobLost:
        log.warning("generation %s: attempt %s lost its job to the sweeper; stopped", generation_id, attempt)
        return "lost"
    except llm.GenerationError as exc:
        log.warning("generation %s (endpoint %s) failed: %s", generation_id, generation.endpoint_id, exc.detail)
        current.update(
            status=Generation.Status.ERROR,
            error=exc.message[:500],
            error_detail=exc.detail,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
        )
        status = Generation.Status.ERROR
    else:
        current.update(
            status=Generation.Status.DONE,
            text=result.text,
            finish_reason=result.finish_reason[:32],
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            latency_ms=result.latency_ms,
            error="",
            error_detail="",
            finished_at=timezone.now(),
            updated_at=timezone.now(),
        )
        status = Generation.Status.DONE
    refresh_turn(turn_id=generation.turn_id)
    return str(status)


def refresh_turn(*, turn_id: int) -> str:
    """The turn's status from its generations: ready when all are done, failed when one failed
    and none is still running, generating otherwise; ``truncated`` when a done answer stopped at
    the token limit (``finish_reason`` "length"). A judged turn is left as it is."""
    with transaction.atomic():
        turn = Turn.objects.select_for_update().get(pk=turn_id)
        if turn.status == Turn.Status.JUDGED:
            return str(turn.status)
        rows = list(Generation.objects.filter(turn_id=turn_id).values_list("status", "finish_reason"))
        statuses = {status for status, _ in rows}
        truncated = any(s == Generation.Status.DONE and f == TRUNCATED_FINISH for s, f in rows)
        if statuses == {Generation.Status.DONE}:
            status, ready_at = Turn.Status.READY, turn.ready_at or timezone.now()
        elif Generation.Status.ERROR in statuses and not statuses & {
            Generation.Status.PENDING,
            Generation.Status.STREAMING,
        }:
            status, ready_at = Turn.Status.FAILED, None
        else:
            status, ready_at = Turn.Status.GENERATING, None
        Turn.objects.filter(pk=turn_id).update(status=status, ready_at=ready_at, truncated=truncated)
        return str(status)


def must_ask_again(turn: Turn, stream: Stream) -> bool:
    """A ready turn with a cut-off answer in a stream that does not judge cut-off answers."""
    return (
        turn.status == Turn.Status.READY
        and turn.truncated
        and stream.truncated_answers == Stream.TruncatedAnswers.BLOCK
    )


def retry_generations(*, turn: Turn, now: datetime | None = None) -> list[int]:
    """Asks again for the turn's failed (or stalled) answers — and its cut-off ones when the
    stream does not judge those (``must_ask_again``); the others are kept. Returns the generation
    ids made pending again (none when there was nothing to retry: a repeated click is harmless);
    the caller queues them (``dynamic.tasks.queue_turn``)."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Turn.objects.select_for_update().get(pk=turn.pk)
        if locked.status == Turn.Status.JUDGED:
            return []
        stream = Stream.objects.get(conversations__turns=locked)
        redo_truncated = must_ask_again(locked, stream)
        queued: list[int] = []
        for generation in Generation.objects.select_related("endpoint").filter(turn=locked):
            if (
                generation.status == Generation.Status.ERROR
                or is_stalled(generation, generation.endpoint, now)
                or (redo_truncated and generation.truncated)
            ):
                attempt = generation.attempts + 1
                Generation.objects.filter(pk=generation.pk).update(
                    status=Generation.Status.PENDING,
                    text="",
                    error="",
                    error_detail="",
                    finish_reason="",
                    attempts=attempt,
                    started_at=None,
                    finished_at=None,
                    updated_at=now,
                )
                queued.append(generation.pk)
        if queued:
            Turn.objects.filter(pk=locked.pk).update(status=Turn.Status.GENERATING, ready_at=None, truncated=False)
    return queued


def sweep_stale_generations(*, now: datetime | None = None) -> list[tuple[int, int]]:
    """Finds streaming generations whose worker stopped responding (no heartbeat for
    ``QUORUM_JOB_STALE_SECONDS``). One whose runs lost their worker fewer than
    ``QUORUM_JOB_MAX_ATTEMPTS`` times is asked again as a new attempt (the dead run, should it
    wake, writes nothing: every write names its attempt); the others fail with the reason, and
    their turn fails too, so the annotator sees it and can ask again. Unlike a model's error this
    is retried without the annotator: a worker's death says nothing about the model. Each change
    is conditional on the row being as it was read. Returns the (generation id, attempt) jobs to
    queue."""
    now = now or timezone.now()
    requeue: list[tuple[int, int]] = []
    failed_turns: set[int] = set()
    stale = Generation.objects.filter(status=Generation.Status.STREAMING).filter(
        Q(heartbeat_at__lt=jobs.stale_before(now)) | Q(heartbeat_at__isnull=True, updated_at__lt=jobs.stale_before(now))
    )
    rows = stale.values_list("pk", "turn_id", "attempts", "lost_runs", "heartbeat_at")
    for pk, turn_id, attempts, lost_runs, heartbeat_at in rows:
        same = Generation.objects.filter(
            pk=pk, status=Generation.Status.STREAMING, attempts=attempts, heartbeat_at=heartbeat_at
        )
        runs = lost_runs + 1
        if runs < jobs.max_attempts():
            if same.update(
                status=Generation.Status.PENDING,
                text="",
                attempts=attempts + 1,
                lost_runs=runs,
                started_at=None,
                updated_at=now,
            ):
                log.warning("generation %s: its worker stopped responding; asked again (attempt %s)", pk, attempts + 1)
                requeue.append((pk, attempts + 1))
        elif same.update(
            status=Generation.Status.ERROR,
            lost_runs=runs,
            error="The server stopped working on this answer. Ask again.",
            error_detail=jobs.lost_reason(heartbeat_at=heartbeat_at, attempts=runs),
            finished_at=now,
            updated_at=now,
        ):
            failed_turns.add(turn_id)
    for turn_id in failed_turns:
        refresh_turn(turn_id=turn_id)
    return requeue


# --- Judging ------------------------------------------------------------------------------------
def turn_idempotency_key(turn: Turn) -> str:
    return hashlib.sha256(f"dynamic-turn:{turn.pk}".encode()).hexdigest()


def _chosen_position(answer: dict[str, Any], k: int, rng: random.Random, whole: list[int] | None = None) -> int:
    """The canonical position whose answer continues the conversation: the preferred one; for a
    tie or "both bad" one of the two at random (recorded, so the export and the page agree) —
    among the ``whole`` (not cut-off) positions when given and not empty."""
    choice = answer.get("choice")
    if choice in ("A", "B"):
        return "AB".index(choice)
    ranking = answer.get("ranking")
    if ranking:
        return int(rng.choice(ranking[0]))
    if whole:
        return rng.choice(whole)
    return rng.randrange(k)


def judge_turn(
    *, turn: Turn, answer: dict[str, Any], now: datetime | None = None, rng: random.Random | None = None
) -> services.SubmitResult:
    """Stores the judgement of a ready turn and continues the conversation with the preferred
    answer. ``answer`` holds ``submit_judgement``'s keyword arguments in canonical order
    (``JudgementForm.answer``). Returns ``submit_judgement``'s result (with what QC did).
    Idempotent: judging a judged turn again returns its judgement (``created=False``).

    Cut-off answers (``Turn.truncated``) follow ``stream.truncated_answers``: ``block`` refuses
    the judgement (``ConversationError``: ask again); ``judge_only`` stores it but never continues
    with a cut-off answer — a tie picks a whole one, and a preferred cut-off answer ends the
    conversation; ``allow`` judges and continues as with any answer. Each response's metadata
    says whether it was cut off (``truncated``), and the item's ``dynamic.truncated`` lists them.

    The turn becomes an Item in the stream's work pool (external id ``conversation-<id>-turn-<n>``,
    context = the conversation so far, responses in canonical candidate order with their models)
    that is already full: its one claim is this annotator's, so the static queue never serves it.
    """
    now = now or timezone.now()
    rng = rng or random.Random()
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().select_related("stream").get(pk=turn.conversation_id)
        locked = Turn.objects.select_for_update().get(pk=turn.pk)
        if locked.status == Turn.Status.JUDGED and locked.item_id is not None:
            existing = Judgement.objects.get(item_id=locked.item_id, is_current=True)
            return services.SubmitResult(existing, created=False, late=False)
        if locked.status != Turn.Status.READY:
            raise ConversationError("These answers are not ready to judge yet.")
        stream = conversation.stream
        if must_ask_again(locked, stream):
            raise ConversationError(
                "An answer was cut off at the token limit, and this stream does not judge cut-off answers: "
                "ask the models again, or end the conversation."
            )
        generations = list(Generation.objects.filter(turn=locked).select_related("endpoint").order_by("position"))
        context = conversation_context(conversation, locked)
        responses = [
            {
                "text": g.text,
                "model": g.endpoint.name,
                "metadata": {
                    "endpoint_id": g.endpoint_id,
                    "model": g.endpoint.model,
                    "finish_reason": g.finish_reason,
                    "latency_ms": g.latency_ms,
                    "prompt_tokens": g.prompt_tokens,
                    "completion_tokens": g.completion_tokens,
                    "truncated": g.truncated,
                },
            }
            for g in generations
        ]
        digest = hashlib.sha256(orjson.dumps([context, [r["text"] for r in responses]])).hexdigest()
        item = Item.objects.create(
            stream=stream,
            external_id=f"conversation-{conversation.pk}-turn-{locked.index}",
            context=context,
            responses=responses,
            num_responses=len(responses),
            metadata={
                "dynamic": {
                    "conversation": conversation.pk,
                    "turn": locked.index,
                    "truncated": [g.position for g in generations if g.truncated],
                }
            },
            content_hash=digest,
            claim_count=1,
            is_open=False,
            created_at=now,
            updated_at=now,
        )
        assignment = Assignment.objects.create(
            item=item,
            stream=stream,
            annotator_id=conversation.annotator_id,
            display_order=list(conversation.display_order),
            served_at=min(locked.ready_at or now, now),
            lease_expires_at=now + timedelta(minutes=stream.lease_minutes),
        )
        result = services.submit_judgement(
            assignment=assignment,
            idempotency_key=turn_idempotency_key(locked),
            source=Judgement.Source.DYNAMIC,
            now=now,
            **answer,
        )
        keep_truncated = stream.truncated_answers == Stream.TruncatedAnswers.ALLOW
        whole = [g.position for g in generations if not g.truncated]
        chosen = _chosen_position(answer, len(generations), rng, None if keep_truncated else whole)
        Turn.objects.filter(pk=locked.pk).update(
            status=Turn.Status.JUDGED, item=item, chosen_position=chosen, judged_at=now
        )
        messages = [*context, {"role": "assistant", "content": generations[chosen].text}]
        # The conversation never continues from half an answer unless the stream allows it: the
        # judgement is kept, and the conversation ends here.
        cut_off = generations[chosen].truncated and not keep_truncated
        ended = locked.index + 1 >= stream.max_turns or cut_off
        Conversation.objects.filter(pk=conversation.pk).update(
            messages=messages,
            updated_at=now,
            status=Conversation.Status.ENDED if ended else Conversation.Status.OPEN,
            ended_at=now if ended else None,
        )
        return result


def end_conversation(*, conversation: Conversation, now: datetime | None = None) -> bool:
    """Ends the conversation (the annotator's choice). A turn still unjudged is left as it is and
    never becomes an item. Returns False when it had already ended."""
    now = now or timezone.now()
    return bool(
        Conversation.objects.filter(pk=conversation.pk, status=Conversation.Status.OPEN).update(
            status=Conversation.Status.ENDED, ended_at=now, updated_at=now
        )
    )


# --- Model endpoints (dynamic labeling) -------------------------------------------------------
ENDPOINT_FIELDS = (
    "name",
    "base_url",
    "model",
    "parameters",
    "system_prompt",
    "api_key_env",
    "timeout_seconds",
    "is_active",
)


def create_endpoint(*, project: Project, **fields: Any) -> ModelEndpoint:
    """A model endpoint of ``project``. The form has checked the URL (SSRF guard) and that
    ``api_key_env`` is a variable *name*; the key itself is never passed here."""
    return ModelEndpoint.objects.create(project=project, **{k: v for k, v in fields.items() if k in ENDPOINT_FIELDS})


def update_endpoint(*, endpoint: ModelEndpoint, **fields: Any) -> ModelEndpoint:
    for name, value in fields.items():
        if name in ENDPOINT_FIELDS:
            setattr(endpoint, name, value)
    endpoint.save()
    return endpoint


@transaction.atomic
def set_stream_endpoints(*, stream: Stream, weights: dict[int, float]) -> None:
    """The endpoints a dynamic stream samples from, with their weights (endpoint id → weight > 0);
    endpoints left out are removed from the stream. Past conversations keep their endpoints."""
    StreamEndpoint.objects.filter(stream=stream).exclude(endpoint_id__in=list(weights)).delete()
    for endpoint_id, weight in weights.items():
        StreamEndpoint.objects.update_or_create(stream=stream, endpoint_id=endpoint_id, defaults={"weight": weight})


# --- Streams from an evaluation file ------------------------------------------------------------
EVAL_STREAM_PREFIX = "Eval"


def _free_slug(project: Project, base: str, taken: set[str]) -> str:
    base = (slugify(base) or "eval")[:56].strip("-") or "eval"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


@transaction.atomic
def create_streams_from_eval(
    *,
    project: Project,
    evaluation: EvalFile,
    categories: list[str],
    source: str = "",
    use_endpoints: bool = True,
    now: datetime | None = None,
) -> list[Stream]:
    """One dynamic stream per category of ``categories`` (a valid ``evaluation``), each with the
    category's prompts as conversation starters (``ConversationStarter``): pairwise, draft (the
    PM checks the settings, then activates it), purpose filled from the category and its mean
    score. ``use_endpoints``: the streams draw from every active endpoint of the project (weight
    1). All or nothing. Returns the streams in the order of ``categories``."""
    from projects import services as project_services

    now = now or timezone.now()
    ranking = {row.category: row for row in evaluation.ranking()}
    taken = set(Stream.objects.filter(project=project).values_list("slug", flat=True))
    endpoints = list(project.endpoints.filter(is_active=True).order_by("name")) if use_endpoints else []
    streams = []
    for category in categories:
        row = ranking[category]
        described = f"mean score {row.mean:.2f} over {row.n} prompt{'s' if row.n != 1 else ''}"
        stream = project_services.create_stream(
            project=project,
            slug=_free_slug(project, f"eval-{category}", taken),
            name=f"{EVAL_STREAM_PREFIX}: {category}"[:200],
            mode=Stream.Mode.DYNAMIC,
            task_kind=Stream.TaskKind.PAIRWISE,
            status=Stream.Status.DRAFT,
            purpose=f"Weakness: {category} ({described}{f' in {source}' if source else ''})"[:300],
            purpose_capability=category[:100],
            guidelines=(
                f"Each conversation starts from a prompt of the evaluation category **{category}**, "
                "where the model scored low. Send it as it is or adapt it, then judge which answer is better."
            ),
        )
        ConversationStarter.objects.bulk_create(
            ConversationStarter(
                stream=stream,
                text=prompt.prompt,
                external_id=prompt.external_id,
                category=category,
                score=prompt.scores[category],
                source=source[:300],
                created_at=now,
            )
            for prompt in evaluation.prompts_of(category)
        )
        StreamEndpoint.objects.bulk_create(StreamEndpoint(stream=stream, endpoint=e, weight=1.0) for e in endpoints)
        streams.append(stream)
    return streams
