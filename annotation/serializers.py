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
    }


# --- Answers ------------------------------------------------------------------------------------
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
    rationale = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")
    flags = serializers.ListField(child=serializers.ChoiceField(choices=list(FLAGS)), required=False, default=list)
    active_seconds = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=10_000_000,
        help_text="Seconds the item was visible and focused (clamped to the server's window).",
    )

    @property
    def assignment(self) -> Assignment:
        assignment: Assignment = self.context["assignment"]
        return assignment

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        stream = self.assignment.stream
        k = len(self.assignment.display_order)
        errors: dict[str, str] = {}
        if stream.task_kind == Stream.TaskKind.RANKING:
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
            **{field: name in data["flags"] for name, field in FLAGS.items()},
        }
        if assignment.stream.task_kind == Stream.TaskKind.RANKING:
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
            "rationale",
            "flag_harmful",
            "flag_pii",
            "flag_cannot_judge",
            "display_order",
            "served_at",
            "submitted_at",
            "active_seconds",
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
    the review pages). PMs get ``JudgementSerializer``."""

    class Meta(JudgementSerializer.Meta):
        fields = [name for name in JudgementSerializer.Meta.fields if name != "annotator"]
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
