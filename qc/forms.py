"""Forms of the qc pages."""

from __future__ import annotations

from typing import Any

from django import forms

from qc.golden import answer_choices


class GoldenForm(forms.Form):
    """A PM's golden answer for one item: acceptable answers, explanation, harmful."""

    answers = forms.MultipleChoiceField(
        choices=answer_choices(2),
        widget=forms.CheckboxSelectMultiple,
        help_text="Every answer you accept as right (canonical order: A is the first response).",
    )
    explanation = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=5000,
        required=False,
        help_text="Markdown. Shown after a wrong answer when the stream is in training mode, and on the "
        "annotator's quality page.",
    )
    harmful = forms.BooleanField(required=False, label="Harmful: the right answer includes the harmful flag")

    def __init__(self, *args: Any, num_responses: int = 2, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if num_responses != 2:
            self.fields["answers"].choices = answer_choices(num_responses)  # type: ignore[attr-defined]


class PriorGoldenForm(forms.Form):
    limit = forms.IntegerField(min_value=1, max_value=5000, initial=20, label="How many items")
    explanation = forms.CharField(
        max_length=500,
        required=False,
        help_text="Optional; {source} and {answer} are filled in. Default: “The reference label ({source}) "
        "prefers {answer}.”",
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, help_text="Kept with the change; the annotator sees it.")


class NoteForm(forms.Form):
    note = forms.CharField(max_length=500, required=False)


# The reviewer's canned reasons, picked with the keys 1-9 on the review page. The annotator reads
# the reason, so each says what to do differently.
REVIEW_REASONS = (
    "Chose the worse response",
    "Missed a factual error",
    "Missed harmful or unsafe content",
    "Should have been a tie",
    "Both responses are bad",
    "The rationale does not support the choice",
    "A flag is missing (harmful or PII)",
    "A flag was not warranted",
    "Too fast to have read both responses",
)


class ReviewForm(forms.Form):
    """A decision; a rejection needs a reason: a canned one (``preset``, 1-9), a free note, or
    both, stored as "canned — note"."""

    decision = forms.ChoiceField(choices=[("accept", "Accept"), ("reject", "Reject")], widget=forms.RadioSelect)
    preset = forms.TypedChoiceField(
        choices=[(n, text) for n, text in enumerate(REVIEW_REASONS, 1)],
        coerce=int,
        required=False,
        empty_value=None,
        widget=forms.RadioSelect,
        label="Reason",
    )
    reason = forms.CharField(
        max_length=400,
        required=False,
        label="Note",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The annotator reads it with the reason.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        note = (data.get("reason") or "").strip()
        preset = data.get("preset")
        parts = [REVIEW_REASONS[preset - 1]] if preset else []
        if note:
            parts.append(note)
        data["reason"] = " — ".join(parts)
        if data.get("decision") == "reject" and not parts:
            self.add_error("preset", "Pick a reason (keys 1–9) or write a note: the annotator reads it.")
        return data


class GalleryForm(forms.Form):
    """A judgement into the example gallery: which kind and why (the note annotators read)."""

    kind = forms.ChoiceField(choices=[("exemplary", "Exemplary"), ("instructive_mistake", "Instructive mistake")])
    note = forms.CharField(
        max_length=2000,
        widget=forms.TextInput(attrs={"placeholder": "Why: what annotators should learn from it"}),
        help_text="Annotators read it beside the item. Write no names.",
    )


# --- Calibration rounds ------------------------------------------------------------------------------
class CalibrationOpenForm(forms.Form):
    """A PM opens a round: a title, a deadline, the items (ticked from the most-disagreed list
    and/or typed as item ids or external ids), whether its answers may go to training exports."""

    title = forms.CharField(max_length=200)
    deadline = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="UTC. The round closes by itself then (or earlier, when you close it).",
    )
    items = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple, label="Most-disagreed items"
    )
    extra = forms.CharField(
        max_length=2000,
        required=False,
        label="More items",
        help_text="Item ids or external ids, separated by commas or spaces (new edge cases, for example).",
    )
    min_rationale_words = forms.IntegerField(min_value=1, max_value=50, initial=3, label="Rationale: at least … words")
    include_in_exports = forms.BooleanField(
        required=False,
        label="Let the round's answers into training exports",
        help_text="Off by default: calibration answers stay out of exports.",
    )

    def __init__(self, *args: Any, item_choices: list[tuple[int, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["items"].choices = item_choices or []  # type: ignore[attr-defined]

    def extra_refs(self) -> list[str]:
        raw = self.cleaned_data.get("extra") or ""
        return [ref for ref in raw.replace(",", " ").split() if ref]


class CalibrationAnswerForm(forms.Form):
    """An annotator's answer in a round, as the item page asks it (choice as shown, strength when
    A or B) with a required rationale of at least ``min_words`` words; ``token`` is the served
    row's key."""

    token = forms.CharField(max_length=64, widget=forms.HiddenInput)
    choice = forms.ChoiceField(
        choices=[("A", "A is better"), ("B", "B is better"), ("tie", "Tie"), ("both_bad", "Both bad")],
        required=False,
        widget=forms.RadioSelect,
    )
    strength = forms.TypedChoiceField(
        choices=[(1, "Slightly"), (2, "Clearly"), (3, "Much")],
        coerce=int,
        required=False,
        empty_value=None,
        widget=forms.RadioSelect,
    )
    rationale = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, min_words: int = 3, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.min_words = min_words

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        choice = data.get("choice")
        if not choice:
            self.add_error("choice", "Choose A, B, tie or both bad.")
        elif choice in ("A", "B") and not data.get("strength"):
            self.add_error("strength", "How much better: slightly, clearly or much?")
        rationale = (data.get("rationale") or "").strip()
        if rationale and len(rationale.split()) < self.min_words:
            self.add_error("rationale", f"Say why in at least {self.min_words} words.")
        data["rationale"] = rationale
        return data


class CalibrationExpectedForm(forms.Form):
    """The PM's expected answer for one item of a round (canonical: A is the item's first response)."""

    expected_answer = forms.ChoiceField(choices=[("", "—"), *answer_choices(2)], required=False, label="Expected")
    explanation = forms.CharField(max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class CalibrationPromoteForm(forms.Form):
    to = forms.ChoiceField(choices=[("golden", "Golden item"), ("guidelines", "Guideline example")])
