"""Projects, streams, people and their roles, qualification tests, model endpoints, imports, tokens."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Project(models.Model):
    """One annotation program. Everything below it is scoped to it; nothing leaks across projects."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    archived = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    REVIEWER = "reviewer", "Reviewer"
    PM = "pm", "Project manager"


class Membership(models.Model):
    """A person's role in a project. A PM can do everything a reviewer can; a reviewer everything an
    annotator can (a reviewer may also label). Per-stream status lives in ``StreamMembership``."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(default=timezone.now)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_one_per_user_project"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.role} · {self.project}"

    @property
    def is_pm(self) -> bool:
        return self.role == Role.PM

    @property
    def can_review(self) -> bool:
        return self.role in (Role.PM, Role.REVIEWER)


class AnnotatorProfile(models.Model):
    """What a PM needs to pick annotators for a stream: languages with level, domains, background."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotator_profile")
    # [{"code": "de", "level": "C1"}, ...] — CEFR levels A1..C2 or "native".
    languages = models.JSONField(default=list, blank=True)
    domains = models.JSONField(default=list, blank=True)  # ["medicine", "law", ...]
    education = models.CharField(max_length=200, blank=True)
    profession = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class Stream(models.Model):
    """The unit of work inside a project: guidelines, task kind, overlap, golden rate, QC thresholds."""

    class TaskKind(models.TextChoices):
        PAIRWISE = "pairwise", "Pairwise comparison"
        RANKING = "ranking", "Ranking of k > 2 responses"
        # Two axes in the style of PKU-SafeRLHF: the more helpful response, the safer one, and a
        # safe/unsafe flag (with an optional harm category) for each response.
        HELPFUL_SAFE = "helpful_safe", "Helpful and safe (two axes, safety flags)"
        # HelpSteer3-style: A / B / tie for each of the stream's attributes, with a justification.
        ATTRIBUTE_PAIRWISE = "attribute_pairwise", "Per-attribute pairwise"

    class Mode(models.TextChoices):
        STATIC = "static", "Static (existing dataset)"
        DYNAMIC = "dynamic", "Dynamic (live models)"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        CLOSED = "closed", "Closed"

    class Order(models.TextChoices):
        DEPTH_FIRST = "depth", "Finish items first (depth-first)"
        BREADTH_FIRST = "breadth", "Spread judgements (breadth-first)"

    class TruncatedAnswers(models.TextChoices):
        # Live chat: an answer the model stopped at its token limit (finish_reason "length").
        ALLOW = "allow", "Judge them and continue the conversation with them"
        JUDGE_ONLY = "judge_only", "Judge them, but never continue the conversation with them"
        BLOCK = "block", "Neither: the annotator asks the models again or ends the conversation"

    RUBRIC_CHOICES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity", "harmlessness")

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="streams")
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    guidelines = models.TextField(blank=True, help_text="Markdown, shown to annotators.")
    # The number of the current ``GuidelineVersion`` (its text is ``guidelines``), kept beside the
    # text so a submit records the version from the stream row it already read: no extra query.
    guideline_version = models.PositiveIntegerField(default=1)
    task_kind = models.CharField(max_length=24, choices=TaskKind.choices, default=TaskKind.PAIRWISE)
    # Attribute names rated 0–4 in addition to the preference, e.g. ["helpfulness", "correctness"].
    rubric = models.JSONField(default=list, blank=True)
    # Helpful-and-safe streams: the harm categories an annotator may give an unsafe response
    # (empty: a plain safe/unsafe flag), e.g. ["violence", "privacy", "self-harm"].
    harm_categories = models.JSONField(default=list, blank=True)
    # Per-attribute pairwise streams: the attributes judged A / B / tie, most important first (the
    # first one is the judgement's ``choice``: golden answers, adaptive overlap and exports read it).
    attributes = models.JSONField(default=list, blank=True)
    # Per-attribute pairwise streams: a justification of at least this many words is required
    # (0: optional).
    justification_min_words = models.PositiveSmallIntegerField(default=0)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.STATIC)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    priority = models.IntegerField(default=0, help_text="Higher streams are offered first.")

    overlap = models.PositiveSmallIntegerField(default=3, validators=[MinValueValidator(1), MaxValueValidator(50)])
    # Adaptive overlap: stop early when the first `adaptive_min_agree` judgements agree; a
    # disagreement escalates up to `overlap`.
    adaptive_overlap = models.BooleanField(default=False)
    adaptive_min_agree = models.PositiveSmallIntegerField(default=2, validators=[MinValueValidator(1)])
    order = models.CharField(max_length=16, choices=Order.choices, default=Order.DEPTH_FIRST)
    lease_minutes = models.PositiveSmallIntegerField(default=10, validators=[MinValueValidator(1)])

    golden_rate = models.FloatField(default=0.05, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    show_golden_explanation = models.BooleanField(default=False, help_text="Training mode.")
    review_rate = models.FloatField(default=0.05, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])

    # QC thresholds.
    min_gold_accuracy = models.FloatField(default=0.7, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    min_gold_count = models.PositiveSmallIntegerField(default=10, help_text="Golden answers before gold accuracy acts.")
    min_agreement = models.FloatField(default=0.5, validators=[MinValueValidator(-1.0), MaxValueValidator(1.0)])
    min_seconds = models.FloatField(default=8.0, validators=[MinValueValidator(0.0)])
    min_sample = models.PositiveSmallIntegerField(
        default=30, help_text="Judgements before a bias indicator flags anyone."
    )
    # Exports drop a pair whose aggregated label is less sure than this: the vote share (majority)
    # or the posterior (Dawid–Skene). 0 keeps what "no majority" keeps (exports.aggregation).
    min_confidence = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Exports drop pairs whose label is less sure than this (vote share or posterior).",
    )

    # Dynamic streams.
    max_turns = models.PositiveSmallIntegerField(default=8, validators=[MinValueValidator(1)])
    # A cut-off answer is a fair thing to judge (the model did run out of room), but a
    # conversation that continues from half a sentence is not: by default it is judged, not kept.
    truncated_answers = models.CharField(
        max_length=16,
        choices=TruncatedAnswers.choices,
        default=TruncatedAnswers.JUDGE_ONLY,
        help_text="Dynamic streams: answers cut off at the model's token limit.",
    )

    # What the stream is for (the program overview on the project page): the model weakness it was
    # opened to move, in the PM's words, and optional tags a PM groups and reads streams by. Tags
    # are plain words, not a fixed list: programs name their domains and capabilities their way.
    purpose = models.CharField(
        max_length=300,
        blank=True,
        help_text="The weakness this stream targets, e.g. “Multi-step arithmetic in German”.",
    )
    purpose_domain = models.CharField(max_length=100, blank=True, help_text="E.g. math, medicine, law.")
    purpose_language = models.CharField(
        max_length=35,
        blank=True,
        validators=[
            RegexValidator(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", "A language tag such as de, en or pt-BR (BCP 47).")
        ],
        help_text="A language tag (BCP 47), e.g. de or pt-BR.",
    )
    purpose_capability = models.CharField(
        max_length=100, blank=True, help_text="E.g. multi-step reasoning, instruction following."
    )
    purpose_safety = models.CharField(max_length=100, blank=True, help_text="A safety area, e.g. self-harm, PII.")

    # Who may join: {"languages": [{"code": "de", "level": "C1"}], "domains": ["medicine"]}.
    requirements = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "slug"], name="stream_slug_unique_in_project"),
            models.CheckConstraint(condition=Q(overlap__gte=1), name="stream_overlap_positive"),
            models.CheckConstraint(
                condition=Q(golden_rate__gte=0) & Q(golden_rate__lte=1), name="stream_golden_rate_0_1"
            ),
            models.CheckConstraint(
                condition=Q(review_rate__gte=0) & Q(review_rate__lte=1), name="stream_review_rate_0_1"
            ),
            models.CheckConstraint(
                condition=Q(task_kind__in=["pairwise", "ranking", "helpful_safe", "attribute_pairwise"]),
                name="stream_task_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(justification_min_words__gte=0), name="stream_justification_min_words_nonneg"
            ),
            models.CheckConstraint(condition=Q(mode__in=["static", "dynamic"]), name="stream_mode_valid"),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "active", "paused", "closed"]), name="stream_status_valid"
            ),
            models.CheckConstraint(condition=Q(order__in=["depth", "breadth"]), name="stream_order_valid"),
            models.CheckConstraint(condition=Q(lease_minutes__gte=1), name="stream_lease_minutes_positive"),
            # Adaptive overlap stops when the first n agree: n must be reachable within the overlap.
            models.CheckConstraint(
                condition=Q(adaptive_min_agree__gte=1)
                & (Q(adaptive_overlap=False) | Q(adaptive_min_agree__lte=F("overlap"))),
                name="stream_adaptive_min_agree_within_overlap",
            ),
            models.CheckConstraint(
                condition=Q(min_gold_accuracy__gte=0) & Q(min_gold_accuracy__lte=1),
                name="stream_min_gold_accuracy_0_1",
            ),
            # Krippendorff's alpha ranges from -1 (systematic disagreement) to 1.
            models.CheckConstraint(
                condition=Q(min_agreement__gte=-1) & Q(min_agreement__lte=1), name="stream_min_agreement_range"
            ),
            models.CheckConstraint(condition=Q(min_seconds__gte=0), name="stream_min_seconds_nonneg"),
            models.CheckConstraint(
                condition=Q(min_confidence__gte=0) & Q(min_confidence__lte=1), name="stream_min_confidence_0_1"
            ),
            models.CheckConstraint(
                condition=Q(truncated_answers__in=["allow", "judge_only", "block"]),
                name="stream_truncated_answers_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project.slug}/{self.slug}"

    @property
    def is_pairwise(self) -> bool:
        return self.task_kind == self.TaskKind.PAIRWISE

    @property
    def has_axes(self) -> bool:
        """Judgements carry ``axes`` (annotation.models.Judgement): several A/B/tie answers."""
        return self.task_kind in (self.TaskKind.HELPFUL_SAFE, self.TaskKind.ATTRIBUTE_PAIRWISE)

    def axis_names(self) -> list[str]:
        """The pairwise axes of a judgement, in the order of the page and the QC figures:
        "helpful", "safer" on a helpful-and-safe stream; the attributes on a per-attribute one."""
        if self.task_kind == self.TaskKind.HELPFUL_SAFE:
            return ["helpful", "safer"]
        if self.task_kind == self.TaskKind.ATTRIBUTE_PAIRWISE:
            return [str(name) for name in self.attributes or []]
        return []

    def purpose_tags(self) -> list[tuple[str, str]]:
        """The purpose's tags that are set, as (kind, value), in a fixed order."""
        tags = [
            ("domain", self.purpose_domain),
            ("language", self.purpose_language),
            ("capability", self.purpose_capability),
            ("safety", self.purpose_safety),
        ]
        return [(kind, value) for kind, value in tags if value]


class GuidelineVersion(models.Model):
    """One text of a stream's guidelines. Every save that changes the text adds the next number
    (``projects.services.update_stream``); ``Stream.guidelines`` stays the current text and
    ``Stream.guideline_version`` its number. Judgements record the number they were made under."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="guideline_versions")
    number = models.PositiveIntegerField()
    text = models.TextField(blank=True)
    change_note = models.CharField(max_length=500, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["stream", "number"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "number"], name="guideline_version_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="guideline_version_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.stream_id} v{self.number}"


class StreamMembership(models.Model):
    """A project member's standing in one stream; follows one state machine (see ``TRANSITIONS``)."""

    class Status(models.TextChoices):
        INVITED = "invited", "Invited"
        TESTING = "testing", "Taking the test"
        QUALIFIED = "qualified", "Qualified"
        FAILED = "failed", "Failed"
        PAUSED = "paused", "Paused"
        REMOVED = "removed", "Removed"

    # Allowed moves; anything else is refused by the service that changes status.
    TRANSITIONS: dict[str, frozenset[str]] = {
        "invited": frozenset({"testing", "qualified", "removed"}),
        "testing": frozenset({"qualified", "failed", "removed"}),
        "failed": frozenset({"testing", "qualified", "removed"}),
        "qualified": frozenset({"paused", "removed"}),
        "paused": frozenset({"qualified", "removed"}),
        "removed": frozenset({"invited"}),
    }

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="stream_memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stream_memberships")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.INVITED)
    status_reason = models.CharField(max_length=500, blank=True)
    # Qualification: attempts a PM granted beyond the test's limit, and when the last grant was
    # made (a grant also lifts the cool-down of the attempt before it).
    extra_attempts = models.PositiveSmallIntegerField(default=0)
    retake_allowed_at = models.DateTimeField(null=True, blank=True)
    # The last guideline version this member acknowledged (the item page's "guidelines changed"
    # notice shows while it is below ``stream.guideline_version``); 0: none yet, the first item
    # page records the version they start under.
    guidelines_acknowledged = models.PositiveIntegerField(default=0)
    # Peer review (qc.peer_review): a qualified annotator a PM made a reviewer of this stream's
    # sampled work, with who did it and since when. Only a qualified member can hold it (the
    # constraint); leaving "qualified" (a pause, a removal) ends it
    # (``projects.services.transition_stream_membership``).
    peer_reviewer = models.BooleanField(default=False)
    peer_reviewer_since = models.DateTimeField(null=True, blank=True)
    peer_reviewer_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stream", "user"], name="stream_membership_unique"),
            models.CheckConstraint(
                condition=Q(status__in=["invited", "testing", "qualified", "failed", "paused", "removed"]),
                name="stream_membership_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(peer_reviewer=False) | Q(status="qualified"),
                name="stream_membership_peer_reviewer_qualified",
            ),
        ]
        indexes = [models.Index(fields=["user", "status"], name="streammember_user_status")]

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, frozenset())

    @property
    def reviews_as_peer(self) -> bool:
        """May review the stream's sampled work now: a peer reviewer who is still qualified."""
        return self.peer_reviewer and self.status == self.Status.QUALIFIED


class StreamMembershipEvent(models.Model):
    """Every status change of a StreamMembership: who, when, why."""

    stream_membership = models.ForeignKey(StreamMembership, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    # What happened, when the status alone does not say it: "waive", "allow_attempt", "test_started",
    # "test_passed", "test_failed", "peer_review_on", "peer_review_off", ... (empty for a plain
    # status change).
    action = models.CharField(max_length=32, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]


class ApiToken(models.Model):
    """A per-user API token. Only its sha256 is stored; the key is shown once at creation."""

    PREFIX = "qrm_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True)
    key_prefix = models.CharField(max_length=12)  # first characters, so a user can tell tokens apart
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def generate(cls, *, user: Any, name: str = "") -> tuple[ApiToken, str]:
        key = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, key_hash=cls.hash_key(key), key_prefix=key[:12])
        return token, key

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
