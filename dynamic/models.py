"""Dynamic labeling: model endpoints, the streams that sample them, and the annotator's
conversations with them (turns, and one generation per endpoint and turn)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from quorum import jobs

# The OpenAI protocol's finish_reason for an answer stopped by max_tokens.
TRUNCATED_FINISH = "length"


class ModelEndpoint(models.Model):
    """An OpenAI-compatible chat-completions endpoint. Only the *name* of the environment variable
    holding the key is stored; the key itself never enters the database or a page."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="endpoints")
    name = models.CharField(max_length=100, help_text="Shown to PMs only; annotators see A/B.")
    base_url = models.URLField(max_length=500)
    model = models.CharField(max_length=200)
    parameters = models.JSONField(default=dict, blank=True)  # temperature, top_p, max_tokens
    system_prompt = models.TextField(blank=True)
    api_key_env = models.CharField(max_length=100, blank=True, help_text="Name of the environment variable.")
    timeout_seconds = models.PositiveSmallIntegerField(default=60)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The dynamic streams that sample this endpoint (``stream.endpoints`` from the other side).
    streams: models.ManyToManyField[Any, StreamEndpoint] = models.ManyToManyField(
        "projects.Stream", through="StreamEndpoint", related_name="endpoints", blank=True
    )

    class Meta:
        db_table = "projects_modelendpoint"  # its name from before the move (docs/architecture.md)
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="endpoint_name_unique_in_project")]

    def __str__(self) -> str:
        return self.name


class StreamEndpoint(models.Model):
    stream = models.ForeignKey("projects.Stream", on_delete=models.CASCADE)
    endpoint = models.ForeignKey(ModelEndpoint, on_delete=models.CASCADE)
    weight = models.FloatField(default=1.0, validators=[MinValueValidator(0.0)])

    class Meta:
        db_table = "projects_streamendpoint"  # its name from before the move (docs/architecture.md)
        constraints = [
            models.UniqueConstraint(fields=["stream", "endpoint"], name="stream_endpoint_unique"),
            models.CheckConstraint(condition=Q(weight__gte=0), name="stream_endpoint_weight_nonneg"),
        ]


class ConversationStarter(models.Model):
    """A prompt a new conversation of a dynamic stream starts from: the annotator finds it in the
    message box and may send it as it is or adapt it. Streams opened from an evaluation file
    (``dynamic.evalfile``) get one per prompt of their category, with the prompt's score. The
    least-used starter the annotator has not started from yet is offered first, so the stream's
    prompts are covered evenly."""

    stream = models.ForeignKey("projects.Stream", on_delete=models.CASCADE, related_name="starters")
    text = models.TextField()
    external_id = models.CharField(max_length=255, blank=True)  # the evaluation file's "id"
    category = models.CharField(max_length=100, blank=True)
    score = models.FloatField(null=True, blank=True)  # the prompt's score in the evaluation
    source = models.CharField(max_length=300, blank=True)  # the evaluation file's name
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.text[:60]


class Conversation(models.Model):
    """An annotator's chat with the stream's anonymous models (dynamic labeling)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ENDED = "ended", "Ended"

    stream = models.ForeignKey("projects.Stream", on_delete=models.CASCADE, related_name="conversations")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    # The messages that continue the conversation: user turns and the preferred responses.
    messages = models.JSONField(default=list)
    # Canonical candidate positions in the order shown (random per conversation, like
    # Assignment.display_order): [1, 0] = candidate 1 is shown as "A" on every turn.
    display_order = models.JSONField(default=list)
    # The prompt the conversation was offered to start from (None: the annotator's own first
    # message, or a stream without starters).
    starter = models.ForeignKey(
        ConversationStarter, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "annotation_conversation"  # its name from before the move (docs/architecture.md)
        indexes = [models.Index(fields=["annotator", "stream", "status"], name="conversation_annotator_open")]
        constraints = [
            # One open conversation per annotator and stream: two tabs sending a first message at
            # the same moment cannot start two (the second fails here and resumes the first).
            models.UniqueConstraint(
                fields=["annotator", "stream"], condition=Q(status="open"), name="conversation_one_open"
            ),
            models.CheckConstraint(condition=Q(status__in=["open", "ended"]), name="conversation_status_valid"),
        ]


class ConversationCandidate(models.Model):
    """The endpoints sampled for a conversation, by canonical position (0 = A, 1 = B, ...)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="candidates")
    position = models.PositiveSmallIntegerField()
    endpoint = models.ForeignKey("ModelEndpoint", on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "annotation_conversationcandidate"  # its name from before the move (docs/architecture.md)
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "position"], name="conv_candidate_position_unique"),
            models.UniqueConstraint(fields=["conversation", "endpoint"], name="conv_candidate_endpoint_unique"),
        ]


class Turn(models.Model):
    class Status(models.TextChoices):
        GENERATING = "generating", "Generating"
        READY = "ready", "Ready to judge"
        JUDGED = "judged", "Judged"
        FAILED = "failed", "Failed"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveSmallIntegerField()
    user_message = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.GENERATING)
    # Created when the turn's responses are complete: the turn as a judgeable Item.
    item = models.OneToOneField(
        "annotation.Item", null=True, blank=True, on_delete=models.SET_NULL, related_name="turn"
    )
    chosen_position = models.PositiveSmallIntegerField(null=True, blank=True)
    # An answer of this turn stopped at the model's token limit (finish_reason "length"): set when
    # the turn is ready; the stream's truncated_answers decides what may be done with it.
    truncated = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    # When every generation was done: the moment the annotator could start judging (served_at).
    ready_at = models.DateTimeField(null=True, blank=True)
    judged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "annotation_turn"  # its name from before the move (docs/architecture.md)
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["conversation", "index"], name="turn_index_unique")]


class Generation(models.Model):
    """One endpoint's response to one turn, filled in as tokens stream from the worker."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        STREAMING = "streaming", "Streaming"
        DONE = "done", "Done"
        ERROR = "error", "Error"

    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="generations")
    position = models.PositiveSmallIntegerField()
    endpoint = models.ForeignKey("ModelEndpoint", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    text = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)  # safe to show; upstream bodies are not echoed
    # The exact upstream error (status, body excerpt) for PMs only; never rendered to annotators.
    error_detail = models.TextField(blank=True)
    finish_reason = models.CharField(max_length=32, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    # Last write by the worker: a generation that stops moving for longer than its endpoint's
    # timeout is shown as stalled (a worker died) and can be retried.
    updated_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Liveness (quorum/jobs.py): the worker's last sign of life while streaming (written by a
    # heartbeat thread even while the model has sent nothing yet), and how many runs lost their
    # worker. A streaming generation silent for QUORUM_JOB_STALE_SECONDS is asked again by the
    # sweeper (a new attempt), up to QUORUM_JOB_MAX_ATTEMPTS runs, then fails with the reason.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    lost_runs = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        db_table = "annotation_generation"  # its name from before the move (docs/architecture.md)
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["turn", "position"], name="generation_position_unique")]
        indexes = [
            # The sweeper's look: streaming generations by heartbeat (a handful of rows at any time).
            models.Index(
                fields=["heartbeat_at"], condition=Q(status="streaming"), name="generation_streaming_heartbeat"
            ),
        ]

    @property
    def truncated(self) -> bool:
        """Stopped at the token limit: the answer is cut off, not finished."""
        return self.status == self.Status.DONE and self.finish_reason == TRUNCATED_FINISH

    def liveness(self) -> jobs.Liveness | None:
        """For a streaming generation: how long its worker has been silent and what happens when."""
        if self.status != self.Status.STREAMING:
            return None
        return jobs.liveness(heartbeat_at=self.heartbeat_at, attempts=self.lost_runs + 1)
