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


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=[("accept", "Accept"), ("reject", "Reject")], widget=forms.RadioSelect)
    reason = forms.CharField(
        max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="Required to reject."
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("decision") == "reject" and not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why you reject it: the annotator reads it.")
        return data
