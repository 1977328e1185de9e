"""Items, leases, judgements, and the import runs that bring items in.

Answers are always stored in *canonical* response order: ``"A"`` is ``Item.responses[0]`` and
``"B"`` is ``Item.responses[1]``, whatever order the annotator saw (that order is stored beside
the answer as ``display_order``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from quorum import jobs

CHOICES = ("A", "B", "tie", "both_bad")


class Item(models.Model):
    """What gets judged: a context (``[{role, content}]``), 2..k candidate responses
    (``[{text, model, metadata}]``) in canonical order, and optionally a golden answer."""

    class Pool(models.TextChoices):
        WORK = "work", "Labeling queue"
        QUALIFICATION = "qualification", "Qualification test only"

    # No index of its own: the unique (stream, external_id) index serves every stream lookup, and one
    # index fewer makes imports faster.
    stream = models.ForeignKey("projects.Stream", on_delete=models.CASCADE, related_name="items", db_index=False)
    external_id = models.CharField(max_length=255)
    pool = models.CharField(max_length=16, choices=Pool.choices, default=Pool.WORK)
    context = models.JSONField(default=list)
    responses = models.JSONField(default=list)
    num_responses = models.PositiveSmallIntegerField(default=2)
    metadata = models.JSONField(default=dict, blank=True)
    # A label the source dataset already carried, e.g. {"choice": "A", "source": "trl:chosen"}.
    # Never shown to annotators; a PM can promote it to a golden answer.
    prior_label = models.JSONField(null=True, blank=True)
    # sha256 of the normalised content: lets a re-import tell "unchanged" from "updated" cheaply.
    content_hash = models.CharField(max_length=64)

    is_golden = models.BooleanField(default=False)
    golden_answers = models.JSONField(default=list, blank=True)  # acceptable answers, e.g. ["A", "tie"]
    golden_explanation = models.TextField(blank=True)
    golden_harmful = models.BooleanField(default=False)  # the right answer includes the harmful flag

    priority = models.IntegerField(default=0)
    # Denormalised counters kept by the assignment engine: counted judgements, and live leases
    # plus counted judgements (what overlap is checked against).
    judgement_count = models.PositiveSmallIntegerField(default=0)
    claim_count = models.PositiveSmallIntegerField(default=0)
    # claim_count < stream.overlap, kept by the engine so the claim index holds only items with
    # room: a stream with 900,000 finished items is scanned like one with none. A hint only — the
    # claim re-checks claim_count against the overlap, so a stale True never over-assigns.
    is_open = models.BooleanField(default=True)
    # Adaptive overlap (``Stream.adaptive_overlap``): whether the item's first n counted, not
    # excluded judgements (n = ``stream.adaptive_min_agree``) gave the same answer. NULL while
    # fewer than n are in, and on a stream without adaptive overlap. True: the item stopped early
    # at n; False: it collects up to the overlap (``annotation.services.item_target``).
    first_agreed = models.BooleanField(null=True, blank=True)
    import_batch = models.ForeignKey(
        "ImportBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stream", "external_id"], name="item_external_id_unique_in_stream"),
            models.CheckConstraint(condition=Q(num_responses__gte=2), name="item_at_least_two_responses"),
            models.CheckConstraint(condition=Q(pool__in=["work", "qualification"]), name="item_pool_valid"),
            models.CheckConstraint(
                condition=Q(claim_count__gte=F("judgement_count")), name="item_claims_cover_judgements"
            ),
            # Re-import matches on the external id: an empty one would make that match meaningless.
            models.CheckConstraint(condition=~Q(external_id=""), name="item_external_id_not_empty"),
            # Gold accuracy needs something to compare against.
            models.CheckConstraint(
                condition=Q(is_golden=False) | ~Q(golden_answers=[]), name="item_golden_has_answers"
            ),
        ]
        # The claim reads one of these in order and stops at the first item it can lock
        # (depth-first: most-claimed first, so items finish; breadth-first: least-claimed first).
        indexes = [
            models.Index(
                F("stream"),
                F("priority").desc(),
                F("claim_count").desc(),
                F("id"),
                condition=Q(is_open=True, pool="work", is_golden=False),
                name="item_claim_depth",
            ),
            models.Index(
                F("stream"),
                F("priority").desc(),
                F("claim_count"),
                F("id"),
                condition=Q(is_open=True, pool="work", is_golden=False),
                name="item_claim_breadth",
            ),
            # Golden injection picks among the stream's golden items only: a few hundred rows,
            # however many ordinary items the stream has.
            models.Index(fields=["stream"], condition=Q(is_golden=True, pool="work"), name="item_golden"),
            # A stream's items in id order (the item browser's pages, the export's item scan): without
            # it a page of a stream created late walks the primary key past every older stream's items.
            models.Index(fields=["stream", "id"], name="item_stream_id_order"),
        ]

    def __str__(self) -> str:
        return f"{self.stream_id}:{self.external_id}"

    @property
    def prompt_text(self) -> str:
        """The last user message: what a list of items shows as the item's title."""
        for message in reversed(self.context):
            if message.get("role") == "user":
                return str(message.get("content", ""))
        return ""


class Assignment(models.Model):
    """An item leased to one annotator. One row per (annotator, item), ever: an expired lease is
    re-activated in place, so "never the same item twice" is a database constraint."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"
        EXPIRED = "expired", "Expired"

    class SkipReason(models.TextChoices):
        UNCLEAR = "unclear", "Unclear"
        CANNOT_JUDGE = "cannot_judge", "Cannot judge (outside my expertise)"
        OFFENSIVE = "offensive", "Offensive content"
        BROKEN = "broken", "Broken item"

    # No index of its own: the unique (item, annotator) index serves lookups by item.
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments", db_index=False)
    stream = models.ForeignKey("projects.Stream", on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # Canonical response indices in the order shown, e.g. [1, 0] = responses[1] shown first/left.
    display_order = models.JSONField(default=list)
    served_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField()
    first_interaction_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=16, choices=SkipReason.choices, blank=True)
    skip_note = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="assignment_one_per_annotator_item"),
            # One page, one item: a second concurrent claim by the same annotator fails here and
            # resumes the first lease instead of holding two.
            models.UniqueConstraint(
                fields=["annotator", "stream"], condition=Q(status="active"), name="assignment_one_live_lease"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "submitted", "skipped", "expired"]), name="assignment_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["lease_expires_at"], condition=Q(status="active"), name="assignment_expiry"),
            models.Index(
                fields=["stream", "lease_expires_at"], condition=Q(status="active"), name="assignment_stream_expiry"
            ),
        ]

    def is_expired(self, now: Any = None) -> bool:
        return self.status == self.Status.ACTIVE and self.lease_expires_at <= (now or timezone.now())

    def canonical_choice(self, shown: str) -> str:
        """The choice in canonical terms for a choice made on the page, where "A" is the response
        shown first (``display_order[0]``)."""
        if shown in ("A", "B"):
            return "AB"[self.display_order[0 if shown == "A" else 1]]
        return shown

    def canonical_ranking(self, ranks: list[int]) -> list[list[int]]:
        """Groups of canonical indices, best first, from ranks given per display position
        (1 = best; equal ranks are a tie)."""
        groups: dict[int, list[int]] = {}
        for position, rank in enumerate(ranks):
            groups.setdefault(rank, []).append(self.display_order[position])
        return [sorted(groups[rank]) for rank in sorted(groups)]

    def canonical_axes(self, shown: dict[str, Any]) -> dict[str, Any]:
        """A multi-axis answer (``annotation.axes``) from display order to canonical order: each
        A/B answer through ``canonical_choice``, per-response lists re-ordered."""
        result: dict[str, Any] = {}
        for key, value in shown.items():
            if key == "attributes":
                result[key] = {name: self.canonical_choice(answer) for name, answer in value.items()}
            elif key in ("safe", "harm"):
                canonical: list[Any] = [None] * len(value)
                for position, entry in enumerate(value):
                    canonical[self.display_order[position]] = entry
                result[key] = canonical
            else:
                result[key] = self.canonical_choice(value)
        return result

    def canonical_rubric(self, shown: dict[str, list[int | None]]) -> dict[str, list[int | None]]:
        """Rubric ratings per attribute from display order to canonical order."""
        result: dict[str, list[int | None]] = {}
        for name, ratings in shown.items():
            canonical: list[int | None] = [None] * len(ratings)
            for position, rating in enumerate(ratings):
                canonical[self.display_order[position]] = rating
            result[name] = canonical
        return result


class Judgement(models.Model):
    """An annotator's answer to an assignment. Append-only: a correction is a new row whose
    ``supersedes`` points at the old one, and only one row per assignment is current.

    An *excluded* judgement (``excluded_reason`` set) was taken out of the count by QC or a review:
    it is kept, with ``counted`` as it was, for the audit, but it no longer holds one of its item's
    slots (the item collects another judgement instead) and exports leave it out
    (``annotation.services.exclude_judgements`` / ``restore_judgements``)."""

    class ExcludedReason(models.TextChoices):
        QC_DRIFT = "qc_drift", "QC: work after a detected drift"
        QC_PAUSE = "qc_pause", "QC: annotator paused"
        REVIEW_REJECTED = "review_rejected", "Rejected in review"
        PM = "pm", "Taken out by a project manager"

    class Strength(models.IntegerChoices):
        SLIGHTLY = 1, "Slightly better"
        CLEARLY = 2, "Clearly better"
        MUCH = 3, "Much better"

    class Source(models.TextChoices):
        WEB = "web", "Web"
        API = "api", "API"
        DYNAMIC = "dynamic", "Dynamic conversation"
        SIMULATED = "simulated", "Simulated (demo data)"
        # A model judge's verdict (judging room): never counted toward overlap, never in a
        # human's figures or an export unless a use asks for it (docs/judging.md).
        MODEL = "model", "Model judge"

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="judgements")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="judgements")
    # Every submit inserts into each index of this table: stream and annotator have none of their
    # own, the (stream, submitted_at) and (annotator, stream, submitted_at) indexes serve them.
    stream = models.ForeignKey("projects.Stream", on_delete=models.CASCADE, related_name="judgements", db_index=False)
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="judgements", db_index=False
    )

    choice = models.CharField(max_length=16, null=True, blank=True)  # pairwise, canonical
    strength = models.PositiveSmallIntegerField(choices=Strength.choices, null=True, blank=True)
    # Ranking: groups of canonical indices from best to worst; a group of several is a tie.
    ranking = models.JSONField(null=True, blank=True)
    rubric = models.JSONField(default=dict, blank=True)  # {"helpfulness": [3, 1], ...} per canonical response
    # Answers on more than one axis, canonical: {"helpful", "safer", "safe", "harm"} for
    # helpful_safe streams, {"attributes": {name: "A"|"B"|"tie"}} for attribute_pairwise streams.
    axes = models.JSONField(default=dict, blank=True)
    rationale = models.TextField(blank=True)
    flag_harmful = models.BooleanField(default=False)
    flag_pii = models.BooleanField(default=False)
    flag_cannot_judge = models.BooleanField(default=False)

    display_order = models.JSONField(default=list)
    served_at = models.DateTimeField()
    first_interaction_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)
    active_seconds = models.FloatField(null=True, blank=True)
    # Integrity signals (``annotation.signals``): copies of the item's text, pastes into the
    # rationale, time hidden or unfocused, as counts and seconds — never any text. {} = not recorded.
    signals = models.JSONField(default=dict, blank=True)

    # Unique through a constraint (below), not unique=True: the field option would add a second,
    # pattern-ops index on PostgreSQL that no query uses.
    idempotency_key = models.CharField(max_length=64)
    # False for a late submission that found the item already full: stored, never counted.
    counted = models.BooleanField(default=True)
    is_current = models.BooleanField(default=True)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    gold_correct = models.BooleanField(null=True, blank=True)  # set when the item is golden
    # The stream's guideline version (``projects.GuidelineVersion.number``) current when the
    # judgement was stored; NULL for judgements made before versions were recorded.
    guideline_version = models.PositiveIntegerField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.WEB)
    excluded_reason = models.CharField(max_length=16, choices=ExcludedReason.choices, null=True, blank=True)
    excluded_at = models.DateTimeField(null=True, blank=True)
    # What a model judge's suggestion showed the annotator on this item (the stream's suggest use,
    # docs/judging.md): the judge's pick "A" / "B" / "tie" (canonical) when shown, "" when the
    # item was in the random hold-out (a pick existed and was hidden), NULL when there was none.
    suggestion = models.CharField(max_length=8, null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["assignment"], condition=Q(is_current=True), name="judgement_one_current_per_assignment"
            ),
            models.CheckConstraint(
                condition=Q(suggestion__isnull=True) | Q(suggestion__in=["", "A", "B", "tie"]),
                name="judgement_suggestion_valid",
            ),
            models.UniqueConstraint(fields=["idempotency_key"], name="judgement_idempotency_key_unique"),
            models.CheckConstraint(
                condition=Q(choice__isnull=True) | Q(choice__in=list(CHOICES)), name="judgement_choice_valid"
            ),
            models.CheckConstraint(
                condition=Q(strength__isnull=True) | (Q(strength__gte=1) & Q(strength__lte=3)),
                name="judgement_strength_1_3",
            ),
            models.CheckConstraint(
                condition=Q(choice__isnull=False) | Q(ranking__isnull=False), name="judgement_has_answer"
            ),
            # A pairwise answer or a ranking, never both: exports read one or the other.
            models.CheckConstraint(
                condition=Q(choice__isnull=True) | Q(ranking__isnull=True), name="judgement_one_answer_kind"
            ),
            # Strength grades a preference: meaningless for a tie or both-bad (the export's margin).
            models.CheckConstraint(
                condition=Q(strength__isnull=True) | (Q(choice__isnull=False) & Q(choice__in=["A", "B"])),
                name="judgement_strength_needs_a_or_b",
            ),
            models.CheckConstraint(condition=~Q(supersedes=F("id")), name="judgement_not_superseding_itself"),
            models.CheckConstraint(
                condition=Q(active_seconds__isnull=True) | Q(active_seconds__gte=0),
                name="judgement_active_seconds_nonneg",
            ),
            # Excluded means both: why and since when.
            models.CheckConstraint(
                condition=(Q(excluded_reason__isnull=True) & Q(excluded_at__isnull=True))
                | (
                    Q(excluded_reason__in=["qc_drift", "qc_pause", "review_rejected", "pm"])
                    & Q(excluded_at__isnull=False)
                ),
                name="judgement_excluded_reason_and_time",
            ),
        ]
        indexes = [
            models.Index(fields=["stream", "submitted_at"], name="judgement_stream_time"),
            models.Index(fields=["annotator", "stream", "submitted_at"], name="judgement_annotator_time"),
            models.Index(fields=["item"], condition=Q(is_current=True), name="judgement_item_current"),
            # Excluded judgements are few: the progress figures and exports find them here, and a
            # submit never writes to it (a new judgement is not excluded).
            models.Index(
                fields=["stream", "item"], condition=Q(excluded_reason__isnull=False), name="judgement_excluded"
            ),
            # Rankings (no choice): an export asks whether a pairwise stream has any (a stream switched
            # kind after labeling began) before it counts votes; without this it scans every judgement.
            # Submits in ranking streams write to it; pairwise submits never do.
            models.Index(fields=["stream"], condition=Q(choice__isnull=True), name="judgement_no_choice"),
        ]


class ItemEscalation(models.Model):
    """An item a room above sent past its adaptive early stop (``hooks.first_agreement_overruled``):
    its first n judgements agreed, but e.g. the stream's model judge disagreed with them, so it
    collects up to the overlap. Kept as a record of what happened and why (one row per item, the
    first time), even if a later recompute decides otherwise."""

    item = models.OneToOneField(Item, on_delete=models.CASCADE, related_name="escalation")
    stream = models.ForeignKey("projects.Stream", on_delete=models.CASCADE, related_name="escalations")
    # Who overruled ("judge") and the answers that disagreed, canonical.
    by = models.CharField(max_length=32)
    agreed_answer = models.CharField(max_length=32, blank=True)
    other_answer = models.CharField(max_length=32, blank=True)
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["stream", "created_at"], name="escalation_stream_time")]

    def __str__(self) -> str:
        return f"escalation of item {self.item_id}"


class ImportBatch(models.Model):
    """One import run (CLI or web upload): progress while it runs, a report when done."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    stream = models.ForeignKey("projects.Stream", on_delete=models.CASCADE, related_name="import_batches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    filename = models.CharField(max_length=300)
    file_path = models.CharField(max_length=500, blank=True)  # the stored upload, for async runs
    format = models.CharField(max_length=16)
    options = models.JSONField(default=dict, blank=True)  # mapping, skip_invalid, on_mismatch, ...
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    lines_read = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    invalid_count = models.PositiveIntegerField(default=0)
    # {"errors": [{"line", "field", "message"}], "warnings": [...], ...}; capped in size.
    report = models.JSONField(default=dict, blank=True)
    total_bytes = models.BigIntegerField(default=0)
    bytes_read = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Liveness (quorum/jobs.py): worker runs started so far, and the last sign of life of the
    # current run. A running batch silent for QUORUM_JOB_STALE_SECONDS lost its process: the
    # sweeper queues a stored upload again or fails the batch with the reason.
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "projects_importbatch"  # its name from before the move (docs/architecture.md)
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "done", "failed"]), name="import_batch_status_valid"
            ),
        ]
        indexes = [
            # The sweeper's look: running batches by heartbeat (few rows; the partial index stays small).
            models.Index(fields=["heartbeat_at"], condition=Q(status="running"), name="importbatch_running_heartbeat"),
        ]

    @property
    def max_attempts(self) -> int:
        return jobs.max_attempts()

    def liveness(self) -> jobs.Liveness | None:
        """For a running batch: how long it has been silent and what happens when (the page)."""
        if self.status != self.Status.RUNNING:
            return None
        return jobs.liveness(
            heartbeat_at=self.heartbeat_at, attempts=max(1, self.attempts), requeue=bool(self.file_path)
        )

    @property
    def progress(self) -> float:
        if self.status == self.Status.DONE:
            return 1.0
        return min(1.0, self.bytes_read / self.total_bytes) if self.total_bytes else 0.0


# --- Small pure helpers ----------------------------------------------------------------------
def gold_answer_correct(
    *,
    choice: str | None,
    ranking: Sequence[Sequence[int]] | None = None,
    flag_harmful: bool,
    golden_answers: Iterable[str],
    golden_harmful: bool,
) -> bool:
    """A golden item is answered correctly when the answer is one of its acceptable answers and,
    on an item marked harmful, the harmful flag is set. For a ranking the answer is the response
    ranked best alone ("A", "B", ...); a tie for best matches "tie"."""
    answer = choice
    if answer is None and ranking:
        top = list(ranking[0])
        answer = "tie" if len(top) != 1 else "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[top[0]]
    return answer in set(golden_answers) and (flag_harmful or not golden_harmful)
