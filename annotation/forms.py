"""Forms of the annotator's page. They take answers as the page shows them (A = the response shown
first) and hand the service canonical answers (``JudgementForm.answer``)."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

from django import forms

from annotation import axes
from annotation import signals as integrity
from annotation.models import Assignment
from projects.models import Stream

SHOWN_CHOICES = [("A", "A is better"), ("B", "B is better"), ("tie", "Tie"), ("both_bad", "Both bad")]
STRENGTH_CHOICES = [(1, "Slightly"), (2, "Clearly"), (3, "Much")]
RUBRIC_SCALE = [(n, str(n)) for n in range(5)]
SIGNALS_MAX_CHARS = 2000  # the page's JSON is about 300 characters

logger = logging.getLogger(__name__)
AXIS_SHOWN_CHOICES = [("A", "A"), ("B", "B"), ("tie", "Tie")]
SAFETY_CHOICES = [("safe", "Safe"), ("unsafe", "Unsafe")]


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
    # JSON of ``annotation.signals``, written into the form by static/js/integrity.js at submit.
    signals = forms.CharField(required=False, strip=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, assignment: Assignment, stream: Stream, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.assignment = assignment
        self.stream = stream
        self.k = len(assignment.display_order)
        if stream.has_axes:
            self._add_axis_fields(stream)
        if stream.task_kind == Stream.TaskKind.RANKING:
            del self.fields["choice"], self.fields["strength"]
            for position in range(self.k):
                self.fields[f"rank_{position}"] = forms.TypedChoiceField(
                    choices=[(n, str(n)) for n in range(1, self.k + 1)], coerce=int, initial=position + 1
                )
        for name in stream.rubric or []:
            for position in range(self.k):
                # The radios sit in the response cards, outside #judge-form: the attribute ties them to it.
                self.fields[f"rubric_{name}_{position}"] = forms.TypedChoiceField(
                    choices=RUBRIC_SCALE, coerce=int, widget=forms.RadioSelect(attrs={"form": "judge-form"})
                )
        if rationale_required(stream):
            self.fields["rationale"].required = True

    def clean_signals(self) -> dict[str, int | float]:
        """The page's integrity signals, or {} (not recorded) when they are unreadable: the page's own
        script writes them, so garbage means a broken or tampered page, and the annotator's answer
        must not be refused for it (the API, whose clients can fix their requests, answers 400)."""
        raw = self.cleaned_data.get("signals") or ""
        if not raw:
            return {}
        try:
            if len(raw) > SIGNALS_MAX_CHARS:
                raise integrity.InvalidSignals({"signals": f"more than {SIGNALS_MAX_CHARS} characters"})
            return integrity.parse(json.loads(raw))
        except (ValueError, RecursionError) as exc:  # InvalidSignals and JSONDecodeError are ValueErrors
            logger.warning("integrity signals dropped for assignment %s: %s", self.assignment.pk, str(exc)[:200])
            return {}

    def _add_axis_fields(self, stream: Stream) -> None:
        """The multi-axis answer's fields, by display position (``annotation.axes``): required-ness
        is checked in ``clean`` with the API's messages."""
        del self.fields["choice"], self.fields["strength"]
        radios = {"choices": AXIS_SHOWN_CHOICES, "required": False, "widget": forms.RadioSelect}
        if stream.task_kind == Stream.TaskKind.HELPFUL_SAFE:
            # The safety flags are the harmful flag of this kind (``axes.any_unsafe``).
            del self.fields["flag_harmful"]
            for axis in axes.HELPFUL_SAFE_AXES:
                self.fields[axis] = forms.ChoiceField(label=axes.AXIS_QUESTIONS[axis], **radios)  # type: ignore[arg-type]
            categories = [("", "No category")] + [(name, name) for name in stream.harm_categories or []]
            for position in range(self.k):
                self.fields[f"safe_{position}"] = forms.ChoiceField(
                    choices=SAFETY_CHOICES, required=False, widget=forms.RadioSelect
                )
                self.fields[f"harm_{position}"] = forms.ChoiceField(choices=categories, required=False)
        else:
            for index, name in enumerate(stream.axis_names()):
                self.fields[f"attr_{index}"] = forms.ChoiceField(label=name, **radios)  # type: ignore[arg-type]
            self.fields["rationale"].required = bool(stream.justification_min_words)

    def axis_fields(self) -> list[tuple[str, str, forms.BoundField]]:
        """(key, question, radio field) per pairwise axis, in page order, for the template."""
        if self.stream.task_kind == Stream.TaskKind.HELPFUL_SAFE:
            return [(axis, axes.AXIS_QUESTIONS[axis], self[axis]) for axis in axes.HELPFUL_SAFE_AXES]
        return [(f"attr_{i}", name, self[f"attr_{i}"]) for i, name in enumerate(self.stream.axis_names())]

    def safety_fields(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        """(response label, safe/unsafe radios, harm category) per display position."""
        if self.stream.task_kind != Stream.TaskKind.HELPFUL_SAFE:
            return []
        return [("AB"[pos], self[f"safe_{pos}"], self[f"harm_{pos}"]) for pos in range(self.k)]

    def shown_axes(self) -> dict[str, Any]:
        """The multi-axis answer as the page showed it (``annotation.axes``)."""
        data = self.cleaned_data
        if self.stream.task_kind == Stream.TaskKind.HELPFUL_SAFE:
            safe = [data.get(f"safe_{pos}") for pos in range(self.k)]
            return {
                **{axis: data.get(axis) for axis in axes.HELPFUL_SAFE_AXES},
                "safe": [value == "safe" if value else None for value in safe],
                "harm": [data.get(f"harm_{pos}") or None for pos in range(self.k)],
            }
        return {"attributes": {name: data.get(f"attr_{i}") for i, name in enumerate(self.stream.axis_names())}}

    def _clean_axes(self, data: dict[str, Any]) -> None:
        problems = axes.errors(self.stream, self.shown_axes(), rationale=data.get("rationale") or "", k=self.k)
        names = {name: f"attr_{i}" for i, name in enumerate(self.stream.axis_names())}
        for key, message in problems.items():
            if key == "safe":
                missing = [pos for pos in range(self.k) if not data.get(f"safe_{pos}")]
                for pos in missing or [0]:
                    self.add_error(f"safe_{pos}", f"Response {'AB'[pos]}: safe or unsafe?")
            elif key == "harm":
                self.add_error(None, message)
            elif key.startswith("attributes."):
                self.add_error(names[key.split(".", 1)[1]], message)
            elif key in self.fields:
                self.add_error(key, message)
            else:
                self.add_error(None, message)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.stream.has_axes:
            self._clean_axes(data)
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
            "flag_harmful": data.get("flag_harmful", False),
            "flag_pii": data["flag_pii"],
            "flag_cannot_judge": data["flag_cannot_judge"],
            "active_seconds": data.get("active_seconds"),
            "signals": data.get("signals") or {},
        }
        if self.stream.has_axes:
            canonical = self.assignment.canonical_axes(self.shown_axes())
            answer["axes"] = canonical
            answer["choice"] = axes.choice_of(self.stream, canonical)
            if self.stream.task_kind == Stream.TaskKind.HELPFUL_SAFE:
                answer["flag_harmful"] = axes.any_unsafe(canonical)
        elif self.stream.task_kind == Stream.TaskKind.RANKING:
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
    the page showed, so a repeated post is recognised. On a multi-axis stream the question is the
    plain pairwise choice: a question is scored on ``choice`` (the helpful axis, the first
    attribute; docs/annotation.md)."""

    def __init__(self, *args: Any, assignment: Assignment, stream: Stream, **kwargs: Any) -> None:
        if stream.has_axes:
            stream = copy.copy(stream)
            stream.task_kind = Stream.TaskKind.PAIRWISE
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
