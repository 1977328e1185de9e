"""Forms of the qualification pages (PM) and of the annotator's profile."""

from __future__ import annotations

from typing import Any

from django import forms

from annotation.importing import AUTO, FORMAT_CHOICES, ImportOptionsError, parse_mapping
from projects.models import AnnotatorProfile, Stream
from qualification import requirements
from qualification.models import QualificationTest
from qualification.services import ACTIONS


class QualificationSettingsForm(forms.ModelForm[QualificationTest]):
    """The test's settings (pass mark as a percentage) and the stream's requirements."""

    pass_mark_percent = forms.FloatField(
        label="Pass mark (%)", min_value=0, max_value=100, help_text="Share of right answers needed to pass."
    )
    languages = forms.CharField(
        required=False,
        label="Required languages",
        help_text="Language code and minimum level, comma-separated: “de C1, en B2” (levels A1–C2, native).",
    )
    domains = forms.CharField(
        required=False, label="Required domains", help_text="Comma-separated, e.g. “medicine, law”."
    )

    class Meta:
        model = QualificationTest
        fields = [
            "max_attempts",
            "cooldown_hours",
            "time_limit_minutes",
            "shuffle_questions",
            "shuffle_responses",
            "show_explanations",
            "is_active",
        ]
        labels = {
            "max_attempts": "Attempts allowed",
            "cooldown_hours": "Cool-down between attempts (hours)",
            "time_limit_minutes": "Time limit (minutes, empty = none)",
            "shuffle_questions": "Shuffle the question order per attempt",
            "shuffle_responses": "Randomise the response order per question",
            "show_explanations": "Show the explanation of each wrong answer after the attempt",
            "is_active": "Active (invited annotators must pass it before they receive items)",
        }

    def __init__(self, *args: Any, stream: Stream, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream = stream
        if not self.is_bound:
            self.initial["pass_mark_percent"] = round(self.instance.pass_mark * 100, 2)
            reqs = stream.requirements or {}
            self.initial["languages"] = requirements.format_languages(reqs.get("languages") or [])
            self.initial["domains"] = ", ".join(reqs.get("domains") or [])

    def clean_languages(self) -> list[dict[str, str]]:
        try:
            return requirements.parse_languages(self.cleaned_data["languages"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_domains(self) -> list[str]:
        return requirements.parse_domains(self.cleaned_data["domains"])

    def save(self, commit: bool = True) -> QualificationTest:
        test = super().save(commit=False)
        test.stream = self.stream
        test.pass_mark = self.cleaned_data["pass_mark_percent"] / 100
        if commit:
            test.save()
        return test

    def requirements(self) -> dict[str, Any]:
        reqs: dict[str, Any] = {}
        if self.cleaned_data["languages"]:
            reqs["languages"] = self.cleaned_data["languages"]
        if self.cleaned_data["domains"]:
            reqs["domains"] = self.cleaned_data["domains"]
        return reqs


class AddQuestionForm(forms.Form):
    """A question picked from the stream's items, by external id."""

    external_id = forms.CharField(max_length=255, label="Item (external id)")
    answers = forms.CharField(
        max_length=100,
        label="Acceptable answers",
        help_text="Canonical letters as stored (A = the item's first response), tie or both_bad; comma-separated.",
    )
    explanation = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_answers(self) -> list[str]:
        return [part.strip() for part in self.cleaned_data["answers"].replace(";", ",").split(",") if part.strip()]


class QuestionImportForm(forms.Form):
    file = forms.FileField(help_text="JSONL or CSV (gzip read as is): items plus “answers” and “explanation”.")
    format = forms.ChoiceField(
        choices=[(f, "auto (detect from the first lines)" if f == AUTO else f) for f in FORMAT_CHOICES], initial=AUTO
    )
    mapping = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Mapped format only: target=source, one per line.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("mapping") and data.get("format") == AUTO:
            data["format"] = "mapped"  # a mapping says which format it is for
        if data.get("mapping") and data.get("format") != "mapped":
            self.add_error("mapping", "A mapping applies to the mapped format only.")
        elif data.get("mapping"):
            try:
                data["mapping"] = parse_mapping(data["mapping"])
            except ImportOptionsError as exc:
                self.add_error("mapping", str(exc))
        return data


class CandidateActionForm(forms.Form):
    action = forms.ChoiceField(choices=list(ACTIONS.items()))
    reason = forms.CharField(max_length=500, help_text="Stored with the change, with your name and the time.")

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Give a reason.")
        return reason


class InviteCandidateForm(forms.Form):
    username = forms.CharField(max_length=150)


class ProfileForm(forms.ModelForm[AnnotatorProfile]):
    languages_text = forms.CharField(
        required=False,
        label="Languages",
        help_text="Code and level, comma-separated: “de native, en C1, fr B1” (levels A1–C2, native).",
    )
    domains_text = forms.CharField(
        required=False, label="Domains of expertise", help_text="Comma-separated, e.g. “medicine, tax law”."
    )

    class Meta:
        model = AnnotatorProfile
        fields = ["education", "profession", "notes"]
        labels = {"notes": "Notes for project managers"}
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["languages_text"] = requirements.format_languages(self.instance.languages or [])
            self.initial["domains_text"] = ", ".join(self.instance.domains or [])

    def clean_languages_text(self) -> list[dict[str, str]]:
        try:
            return requirements.parse_languages(self.cleaned_data["languages_text"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_domains_text(self) -> list[str]:
        return requirements.parse_domains(self.cleaned_data["domains_text"])

    def save(self, commit: bool = True) -> AnnotatorProfile:
        profile = super().save(commit=False)
        profile.languages = self.cleaned_data["languages_text"]
        profile.domains = self.cleaned_data["domains_text"]
        if commit:
            profile.save()
        return profile
