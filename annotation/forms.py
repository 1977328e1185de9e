"""Forms of the annotator's page. They take answers as the page shows them (A = the response shown
first) and hand the service canonical answers (``JudgementForm.answer``)."""

from __future__ import annotations

from typing import Any

from django import forms

from annotation.models import Assignment
from projects.models import Stream

SHOWN_CHOICES = [("A", "A is better"), ("B", "B is better"), ("tie", "Tie"), ("both_bad", "Both bad")]
STRENGTH_CHOICES = [(1, "Slightly"), (2, "Clearly"), (3, "Much")]
RUBRIC_SCALE = [(n, str(n)) for n in range(5)]


def rationale_required(stream: Stream) -> bool:
    # Stream has no such setting yet (projects owns the model); the page supports it when it does.
    return bool(getattr(stream, "rationale_required", False))


class JudgementForm(forms.Form):
    token = forms.CharField(max_length=64, widget=forms.HiddenInput)
    choice = forms.ChoiceField(choices=SHOWN_CHOICES, required=False, widget=forms.RadioSelect)
    strength = forms.TypedChoiceField(
        choices=STRENGTH_CHOICES, coerce=int, required=False, empty_value=None, widget=forms.RadioSelect
    )
    flag_harmful = forms.BooleanField(required=False)
    flag_pii = forms.BooleanField(required=False)
    flag_cannot_judge = forms.BooleanField(required=False)
    rationale = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
    active_seconds = forms.FloatField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args: Any, assignment: Assignment, stream: Stream, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.assignment = assignment
        self.stream = stream
        self.k = len(assignment.display_order)
        if stream.task_kind == Stream.TaskKind.RANKING:
            del self.fields["choice"], self.fields["strength"]
            for position in range(self.k):
                self.fields[f"rank_{position}"] = forms.TypedChoiceField(
                    choices=[(n, str(n)) for n in range(1, self.k + 1)], coerce=int, initial=position + 1
                )
        for name in stream.rubric or []:
            for position in range(self.k):
                self.fields[f"rubric_{name}_{position}"] = forms.TypedChoiceField(
                    choices=RUBRIC_SCALE, coerce=int, widget=forms.RadioSelect
                )
        if rationale_required(stream):
            self.fields["rationale"].required = True

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.stream.task_kind == Stream.TaskKind.PAIRWISE:
            choice = data.get("choice")
            if not choice:
                self.add_error("choice", "Choose A, B, tie or both bad.")
            elif choice in ("A", "B") and not data.get("strength"):
                self.add_error("strength", "How much better: slightly, clearly or much?")
        return data

    def rubric_fields(self) -> list[tuple[str, list[forms.BoundField]]]:
        """(attribute, one bound field per display position), for the template."""
        return [(name, [self[f"rubric_{name}_{pos}"] for pos in range(self.k)]) for name in self.stream.rubric or []]

    def answer(self) -> dict[str, Any]:
        """Keyword arguments for ``services.submit_judgement``, in canonical order."""
        data = self.cleaned_data
        answer: dict[str, Any] = {
            "rationale": data["rationale"],
            "flag_harmful": data["flag_harmful"],
            "flag_pii": data["flag_pii"],
            "flag_cannot_judge": data["flag_cannot_judge"],
            "active_seconds": data.get("active_seconds"),
        }
        if self.stream.task_kind == Stream.TaskKind.RANKING:
            ranks = [data[f"rank_{pos}"] for pos in range(self.k)]
            answer["ranking"] = self.assignment.canonical_ranking(ranks)
        else:
            answer["choice"] = self.assignment.canonical_choice(data["choice"])
            answer["strength"] = data["strength"] if data["choice"] in ("A", "B") else None
        if self.stream.rubric:
            shown = {name: [data[f"rubric_{name}_{pos}"] for pos in range(self.k)] for name in self.stream.rubric}
            answer["rubric"] = self.assignment.canonical_rubric(shown)
        return answer


class SkipForm(forms.Form):
    reason = forms.ChoiceField(choices=Assignment.SkipReason.choices, widget=forms.RadioSelect)
    note = forms.CharField(required=False, max_length=500)


class HeartbeatForm(forms.Form):
    interacted = forms.BooleanField(required=False)


class QuestionForm(JudgementForm):
    """A qualification question on the item page: the same choice (or ranking) as an item, without
    the rubric (a question is scored on its answer alone). ``token`` names the attempt and question
    the page showed, so a repeated post is recognised."""

    def __init__(self, *args: Any, assignment: Assignment, stream: Stream, **kwargs: Any) -> None:
        super().__init__(*args, assignment=assignment, stream=stream, **kwargs)
        for name in [name for name in self.fields if name.startswith("rubric_")]:
            del self.fields[name]
        self.fields["rationale"].required = False

    def answer(self) -> dict[str, Any]:
        """``{"choice": ...}`` or ``{"ranking": ...}`` in canonical order."""
        data = self.cleaned_data
        if self.stream.task_kind == Stream.TaskKind.RANKING:
            return {"ranking": self.assignment.canonical_ranking([data[f"rank_{pos}"] for pos in range(self.k)])}
        return {"choice": self.assignment.canonical_choice(data["choice"])}


MAX_MESSAGE_CHARS = 20_000  # one message of a dynamic conversation


class MessageForm(forms.Form):
    """The annotator's next message in a dynamic conversation."""

    # The page writes its own <textarea> (placeholder by context), with this limit as maxlength.
    message = forms.CharField(max_length=MAX_MESSAGE_CHARS, strip=True)


class GuidelinesAckForm(forms.Form):
    """The "guidelines changed" notice's button: the version it showed, and where to go back to."""

    version = forms.IntegerField(min_value=1)
    next = forms.ChoiceField(choices=[("work", "The item page"), ("home", "The stream page")], required=False)
