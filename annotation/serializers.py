"""Serializers of the annotator API. Answers arrive as the client showed them (``"A"`` = the
response displayed first, ranks and rubric ratings per display position) and leave
``JudgementAnswerSerializer.answer`` in canonical order, through the same ``Assignment.canonical_*``
methods the web form uses.

The item an annotator receives carries no golden answer, prior label, model name, metadata, item
id or external id: nothing that would tell a golden item from any other, or bias the judgement.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from annotation import axes as multi_axis
from annotation import signals as integrity
from annotation.forms import rationale_required
from annotation.models import Assignment, Item, Judgement
from annotation.selectors import ShownMessage, ShownResponse
from projects.models import Stream

SHOWN_CHOICES = ["A", "B", "tie", "both_bad"]
FLAGS = {"harmful": "flag_harmful", "pii": "flag_pii", "cannot_judge": "flag_cannot_judge"}
RUBRIC_MAX = 4


# --- The item as served -------------------------------------------------------------------------
class ShownMessageSerializer(serializers.Serializer[ShownMessage]):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = serializers.CharField(help_text="The text as imported (markdown).")
    html = serializers.CharField(help_text="The text rendered as sanitised HTML.")


class ShownResponseSerializer(serializers.Serializer[ShownResponse]):
    # Field names that shadow Field attributes are fine at run time (the metaclass collects them).
    label = serializers.CharField(help_text='"A", "B", ... by display position: answers use these.')  # type: ignore[assignment]
    position = serializers.IntegerField(min_value=0, help_text="Display position, 0-based.")
    text = serializers.CharField(help_text="The response as imported (markdown).")
    html = serializers.CharField(help_text="The response rendered as sanitised HTML.")


class NextItemSerializer(serializers.Serializer[dict[str, Any]]):
    assignment = serializers.IntegerField(help_text="Id to send the judgement or skip to.")
    stream = serializers.IntegerField()
    task_kind = serializers.ChoiceField(choices=Stream.TaskKind.choices)
    served_at = serializers.DateTimeField()
    lease_expires_at = serializers.DateTimeField(
        help_text="A judgement sent later is still stored, and counted if the item still has room."
    )
    context = ShownMessageSerializer(many=True, help_text="The conversation so far.")  # type: ignore[assignment]  # as label above
    responses = ShownResponseSerializer(many=True, help_text="In display order.")
    rubric = serializers.ListField(
        child=serializers.CharField(), help_text="Attributes to rate 0-4 per response (empty: none)."
    )
    rationale_required = serializers.BooleanField()
    attributes = serializers.ListField(
        child=serializers.CharField(), help_text="attribute_pairwise streams: answer A, B or tie for each."
    )
    justification_min_words = serializers.IntegerField(
        help_text="attribute_pairwise streams: words the rationale needs (0: optional)."
    )
    harm_categories = serializers.ListField(
        child=serializers.CharField(), help_text="helpful_safe streams: categories an unsafe response may get."
    )


def next_item_payload(
    *, assignment: Assignment, stream: Stream, messages: list[ShownMessage], responses: list[ShownResponse]
) -> dict[str, Any]:
    """The body of ``GET /api/streams/<id>/next/``, shaped as ``NextItemSerializer`` documents it.
    Built as plain data (no serializer pass): it is the hot path's response."""
    return {
        "assignment": assignment.pk,
        "stream": stream.pk,
        "task_kind": stream.task_kind,
        "served_at": assignment.served_at.isoformat(),
        "lease_expires_at": assignment.lease_expires_at.isoformat(),
        "context": [{"role": m.role, "content": m.content, "html": str(m.html)} for m in messages],
        "responses": [
            {"label": r.label, "position": r.position, "text": r.text, "html": str(r.html)} for r in responses
        ],
        "rubric": list(stream.rubric or []),
        "rationale_required": rationale_required(stream),
        "attributes": stream.axis_names() if stream.task_kind == Stream.TaskKind.ATTRIBUTE_PAIRWISE else [],
        "justification_min_words": stream.justification_min_words,
        "harm_categories": list(stream.harm_categories or []),
    }


# --- Answers ------------------------------------------------------------------------------------
def _seconds(help_text: str) -> serializers.FloatField:
    return serializers.FloatField(required=False, min_value=0, max_value=integrity.MAX_SECONDS, help_text=help_text)


def _count(help_text: str, cap: int = integrity.MAX_EVENTS) -> serializers.IntegerField:
    return serializers.IntegerField(required=False, min_value=0, max_value=cap, help_text=help_text)


class SignalsSerializer(serializers.Serializer[Any]):
    """Integrity signals (``annotation.signals``): counts and seconds, never text. Every key is
    optional (absent = not measured). An unknown key, a wrong type, a value out of range or
    characters without events is a 400 naming the key; durations longer than the lease allows
    are clamped by the server."""

    shown_seconds = _seconds("Seconds the item was shown, until the submit.")
    hidden_seconds = _seconds("Of those, seconds the page was hidden (another tab, minimised).")
    unfocused_seconds = _seconds("Of those, seconds the page was visible but another window had the focus.")
    leaves = _count("Times the page went hidden or lost the focus.")
    copy_prompt = _count("Copy events on the conversation (prompt) text.")
    copy_prompt_chars = _count("Characters those copies selected.", integrity.MAX_CHARS)
    copy_response = _count("Copy events on the responses' text.")
    copy_response_chars = _count("Characters those copies selected.", integrity.MAX_CHARS)
    paste_rationale = _count("Paste events into the rationale.")
    paste_rationale_chars = _count("Characters pasted into the rationale.", integrity.MAX_CHARS)
    first_interaction_seconds = _seconds("Seconds from showing the item to the annotator's first action on it.")

    def to_internal_value(self, data: Any) -> dict[str, int | float]:
        # One definition of a valid payload for the web form and the API (annotation.signals);
        # the fields above document it.
        try:
            return integrity.parse(data)
        except integrity.InvalidSignals as exc:
            raise serializers.ValidationError(exc.errors) from exc


class JudgementAnswerSerializer(serializers.Serializer[Any]):
    """A judgement as the client showed the responses. Needs ``context={"assignment": ...}``."""

    choice = serializers.ChoiceField(
        choices=SHOWN_CHOICES,
        required=False,
        help_text='Pairwise streams: "A" = the response displayed first, "B" the second, "tie", "both_bad".',
    )
    strength = serializers.IntegerField(
        min_value=1,
        max_value=3,
        required=False,
        allow_null=True,
        help_text="1 slightly, 2 clearly, 3 much better: required with A or B, ignored otherwise.",
    )
    ranking = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        help_text="Ranking streams: the rank of each response in display order (1 = best; equal ranks tie).",
    )
    rubric = serializers.DictField(
        child=serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=RUBRIC_MAX)),
        required=False,
        help_text="Streams with a rubric: for each attribute, a 0-4 rating per response in display order.",
    )
    axes = serializers.DictField(
        required=False,
        help_text='helpful_safe and attribute_pairwise streams, in display order ("A" = the response displayed '
        'first): {"helpful": "A"|"B"|"tie", "safer": ..., "safe": [true, false], "harm": [null, "<category>"]} '
        'or {"attributes": {"<attribute>": "A"|"B"|"tie", ...}} (the justification is the rationale).',
    )
    rationale = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")
    flags = serializers.ListField(child=serializers.ChoiceField(choices=list(FLAGS)), required=False, default=list)
    active_seconds = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=10_000_000,
        help_text="Seconds the item was visible and focused (clamped to the server's window).",
    )
    signals = SignalsSerializer(required=False, help_text="How the item was worked on: counts and seconds, no text.")

    @property
    def assignment(self) -> Assignment:
        assignment: Assignment = self.context["assignment"]
        return assignment

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        stream = self.assignment.stream
        k = len(self.assignment.display_order)
        errors: dict[str, Any] = {}
        if stream.has_axes:
            for other in ("choice", "ranking", "strength"):
                if attrs.get(other) is not None:
                    errors[other] = f"This stream takes axes, not a {other}."
            if "axes" not in attrs:
                errors["axes"] = "This field is required for a " + stream.get_task_kind_display() + " stream."
            else:
                problems = multi_axis.errors(stream, attrs["axes"], rationale=attrs.get("rationale", ""), k=k)
                if "rationale" in problems:
                    errors["rationale"] = problems.pop("rationale")
                if problems:
                    errors["axes"] = problems
            if stream.task_kind == Stream.TaskKind.HELPFUL_SAFE and "harmful" in attrs.get("flags", []):
                errors["flags"] = "On a helpful-and-safe stream, mark responses unsafe in axes.safe instead."
        elif "axes" in attrs:
            errors["axes"] = "This stream takes no axes."
        elif stream.task_kind == Stream.TaskKind.RANKING:
            ranking = attrs.get("ranking")
            if "choice" in attrs:
                errors["choice"] = "This stream takes a ranking, not a choice."
            if ranking is None:
                errors["ranking"] = "This field is required for a ranking stream."
            elif len(ranking) != k or any(rank > k for rank in ranking):
                errors["ranking"] = f"Give one rank from 1 to {k} per response, in display order."
        else:
            choice = attrs.get("choice")
            if "ranking" in attrs:
                errors["ranking"] = "This stream takes a choice, not a ranking."
            if choice is None:
                errors["choice"] = "This field is required: A, B, tie or both_bad."
            elif choice in ("A", "B") and not attrs.get("strength"):
                errors["strength"] = "How much better: 1 slightly, 2 clearly, 3 much."
        expected = list(stream.rubric or [])
        rubric = attrs.get("rubric")
        if expected or rubric:
            if rubric is None:
                errors["rubric"] = f"This field is required: ratings for {', '.join(expected)}."
            elif set(rubric) != set(expected) or any(len(ratings) != k for ratings in rubric.values()):
                errors["rubric"] = f"Rate exactly {', '.join(expected) or 'nothing'}, {k} ratings each."
        if rationale_required(stream) and not attrs.get("rationale", "").strip():
            errors["rationale"] = "This stream requires a rationale."
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def answer(self) -> dict[str, Any]:
        """Keyword arguments for ``services.submit_judgement``, in canonical order."""
        data = self.validated_data
        assignment = self.assignment
        answer: dict[str, Any] = {
            "rationale": data["rationale"],
            "active_seconds": data.get("active_seconds"),
            "signals": data.get("signals") or {},
            **{field: name in data["flags"] for name, field in FLAGS.items()},
        }
        stream = assignment.stream
        if stream.has_axes:
            canonical = assignment.canonical_axes(dict(data["axes"]))
            if stream.task_kind == Stream.TaskKind.HELPFUL_SAFE:
                canonical = {
                    "helpful": canonical["helpful"],
                    "safer": canonical["safer"],
                    "safe": canonical["safe"],
                    "harm": [category or None for category in canonical.get("harm") or [None] * 2],
                }
                answer["flag_harmful"] = multi_axis.any_unsafe(canonical)
            else:
                canonical = {"attributes": {name: canonical["attributes"][name] for name in stream.axis_names()}}
            answer["axes"] = canonical
            answer["choice"] = multi_axis.choice_of(stream, canonical)
        elif stream.task_kind == Stream.TaskKind.RANKING:
            answer["ranking"] = assignment.canonical_ranking(data["ranking"])
        else:
            answer["choice"] = assignment.canonical_choice(data["choice"])
            answer["strength"] = data.get("strength") if data["choice"] in ("A", "B") else None
        if data.get("rubric"):
            answer["rubric"] = assignment.canonical_rubric(data["rubric"])
        return answer


class JudgementResultSerializer(serializers.ModelSerializer[Judgement]):
    counted = serializers.BooleanField(
        help_text="False: the lease had expired and the item was full by then; stored, not counted."
    )

    class Meta:
        model = Judgement
        fields = ["id", "assignment", "submitted_at", "counted"]


_SUBMITTED_AT = serializers.DateTimeField()


def judgement_result_payload(judgement: Judgement) -> dict[str, Any]:
    """The body of a stored judgement, exactly as ``JudgementResultSerializer`` gives it, built as
    plain data: a ModelSerializer builds its fields anew for every instance, the hot path's largest
    serializer cost."""
    return {
        "id": judgement.pk,
        "assignment": judgement.assignment_id,
        "submitted_at": _SUBMITTED_AT.to_representation(judgement.submitted_at),
        "counted": judgement.counted,
    }


class SkipSerializer(serializers.Serializer[Any]):
    reason = serializers.ChoiceField(choices=Assignment.SkipReason.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class SkipResultSerializer(serializers.Serializer[Any]):
    assignment = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[Assignment.Status.SKIPPED.value])


class ConflictSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()
    judgement = serializers.IntegerField(
        required=False, help_text="The judgement already stored for this assignment, if any."
    )


class MessageSerializer(serializers.Serializer[Any]):
    role = serializers.CharField()
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)


class ResponseSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(allow_blank=True, trim_whitespace=False)
    model = serializers.CharField(allow_blank=True, required=False)
    metadata = serializers.DictField(required=False)


class ItemSerializer(serializers.ModelSerializer[Item]):
    """For reviewers and PMs only: includes the golden answer."""

    context: Any = MessageSerializer(many=True)
    responses: Any = ResponseSerializer(many=True)
    golden_answers = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = Item
        fields = [
            "id",
            "stream",
            "external_id",
            "pool",
            "context",
            "responses",
            "metadata",
            "is_golden",
            "golden_answers",
            "golden_explanation",
            "priority",
            "judgement_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class JudgementSerializer(serializers.ModelSerializer[Judgement]):
    class Meta:
        model = Judgement
        fields = [
            "id",
            "item",
            "stream",
            "annotator",
            "choice",
            "strength",
            "ranking",
            "rubric",
            "axes",
            "rationale",
            "flag_harmful",
            "flag_pii",
            "flag_cannot_judge",
            "display_order",
            "served_at",
            "first_interaction_at",
            "submitted_at",
            "active_seconds",
            "signals",
            "counted",
            "guideline_version",
            "is_current",
            "supersedes",
            "gold_correct",
            "source",
        ]
        read_only_fields = fields


class BlindJudgementSerializer(JudgementSerializer):
    """A judgement as a reviewer receives it: without its annotator (reviews are blind, as on
    the review pages) and without its integrity signals. PMs get ``JudgementSerializer``."""

    class Meta(JudgementSerializer.Meta):
        # Nor how the work was done (the integrity signals): reviewers judge the answer alone.
        fields = [name for name in JudgementSerializer.Meta.fields if name not in ("annotator", "signals")]
        read_only_fields = fields


class ItemImportSerializer(serializers.Serializer[Any]):
    """A bulk import through the importer (docs/import.md): JSON Lines text in one of its formats."""

    format = serializers.ChoiceField(
        choices=["auto", "native", "trl", "hh", "mapped"],
        default="auto",
        help_text="auto (the default) detects the format from the first lines; a mapping implies mapped.",
    )
    data: Any = serializers.CharField(trim_whitespace=False, help_text="JSON Lines, one item per line (up to 10 MB).")
    mapping = serializers.DictField(child=serializers.CharField(), required=False, help_text="mapped format only.")
    skip_invalid = serializers.BooleanField(default=False, help_text="Import the valid lines, report the rest.")
    on_mismatch = serializers.ChoiceField(choices=["full", "skip"], default="full")


class ImportIssueSerializer(serializers.Serializer[Any]):
    line = serializers.IntegerField()
    field = serializers.CharField()
    message = serializers.CharField()


class ImportReportSerializer(serializers.Serializer[Any]):
    batch_id = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    format = serializers.CharField(help_text="The format read (the detected one with auto).")
    detected = serializers.CharField(help_text="With auto: what the file was recognised as.")
    hint = serializers.CharField(help_text="When most lines failed: the format the file looks like.")
    lines_read = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    invalid = serializers.IntegerField()
    skipped = serializers.IntegerField()
    protected = serializers.IntegerField()
    errors: Any = ImportIssueSerializer(many=True)
    warnings = ImportIssueSerializer(many=True)
    failure = serializers.CharField()
