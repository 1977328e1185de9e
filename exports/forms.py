"""The export form: format, aggregation, filters, split."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django import forms
from django.utils import timezone

from exports import services as exporting
from exports.models import Export
from projects.models import Project, Stream


class ExportForm(forms.Form):
    """The export page's choices: the same as ``export_preferences`` and the API."""

    streams = forms.ModelMultipleChoiceField(queryset=Stream.objects.none(), widget=forms.CheckboxSelectMultiple)
    format = forms.ChoiceField(
        choices=[
            ("trl", "TRL preference — prompt/chosen/rejected strings"),
            ("trl-conversational", "TRL preference — conversational messages"),
            ("reward", "Reward model — implicit prompt chosen/rejected"),
            ("kto", "KTO — unpaired prompt/completion/label"),
            ("openrlhf", "OpenRLHF — prompt/chosen/rejected messages with margin"),
            ("llama-factory", "LLaMA-Factory — pairwise sharegpt, with dataset_info.json"),
            ("rewardbench", "RewardBench-style evaluation set — the held-out split"),
            ("helpsteer", "HelpSteer — attribute ratings, or per-attribute preferences"),
            ("safe-rlhf", "PKU-SafeRLHF — more helpful and safer, safety flags"),
            ("raw", "Raw judgements — pseudonymised, for research"),
        ]
    )
    aggregate = forms.ChoiceField(
        choices=[
            ("majority", "Majority vote"),
            ("dawid-skene", "Dawid–Skene (reliability-weighted)"),
            ("unanimous", "Unanimous only"),
            ("auto", "Auto — per stream, the method right most often on its golden items"),
        ],
        help_text="Ties and both-bad answers never become pairs; they are counted in the manifest.",
    )
    min_agreement = forms.FloatField(
        min_value=0, max_value=1, initial=0, help_text="Share of an item's judgements that agree, 0–1."
    )
    min_judgements = forms.IntegerField(min_value=1, max_value=1000, initial=1)
    include_golden = forms.BooleanField(required=False, label="Include golden items")
    include_inactive_annotators = forms.BooleanField(
        required=False, label="Include work of paused, failed or removed annotators"
    )
    include_flagged = forms.BooleanField(required=False, label="Include flagged judgements and items")
    include_rejected = forms.BooleanField(required=False, label="Include judgements a reviewer rejected")
    exclude_model_judgements = forms.BooleanField(
        required=False,
        label="Exclude model judgements",
        help_text="Leave the model judge's verdicts out of Dawid–Skene even where the stream's vote use is on.",
    )
    submitted_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    submitted_to = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="Up to the end of this day."
    )
    since_export = forms.ModelChoiceField(
        queryset=Export.objects.none(), required=False, label="Only items new since export", empty_label="—"
    )
    test_fraction = forms.FloatField(
        min_value=0, max_value=0.99, initial=0, help_text="Items held out in test.jsonl (split by item)."
    )
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=0)
    margin = forms.BooleanField(
        required=False, initial=True, label="Add a margin column to every pair ((2 × confidence − 1) × strength)"
    )
    min_confidence = forms.FloatField(
        min_value=0,
        max_value=1,
        required=False,
        help_text="Drop pairs whose label is less sure than this (vote share or posterior, 0–1). "
        "Empty: each stream's own minimum.",
    )
    confidence = forms.BooleanField(required=False, initial=True, label="Add a confidence column to every pair")
    ties = forms.ChoiceField(
        choices=[("drop", "Drop them"), ("both-orders", "Both orders, margin 0 (reward models learn them alike)")],
        initial="drop",
        required=False,
        label="Tied comparisons",
    )
    licence = forms.CharField(
        required=False, max_length=200, help_text="Written into the manifest and the dataset card (README.md)."
    )
    file_format = forms.ChoiceField(
        choices=[("jsonl", "JSON Lines"), ("parquet", "Parquet (big exports)")],
        initial="jsonl",
        required=False,
        label="Files",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["streams"].queryset = project.streams.order_by("name")  # type: ignore[attr-defined]
        self.fields["since_export"].queryset = Export.objects.filter(  # type: ignore[attr-defined]
            project=project, status=Export.Status.DONE
        ).order_by("-created_at")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            try:
                self._spec = self._build_spec()
            except exporting.ExportError as exc:
                raise forms.ValidationError(str(exc)) from None
        return data

    def spec(self) -> exporting.ExportSpec:
        return self._spec

    def _build_spec(self) -> exporting.ExportSpec:
        data = self.cleaned_data

        def at(day: Any, end: bool = False) -> datetime | None:
            if day is None:
                return None
            moment = datetime.combine(day, time.min)
            if end:
                moment = datetime.combine(day, time.max)
            return timezone.make_aware(moment, timezone.get_current_timezone())

        return exporting.ExportSpec(
            stream_ids=tuple(s.pk for s in data["streams"]),
            format=data["format"],
            aggregation=data["aggregate"],
            min_agreement=data["min_agreement"],
            min_judgements=data["min_judgements"],
            include_golden=data["include_golden"],
            exclude_inactive_annotators=not data["include_inactive_annotators"],
            exclude_flagged=not data["include_flagged"],
            exclude_rejected=not data["include_rejected"],
            exclude_model_judgements=data["exclude_model_judgements"],
            submitted_from=at(data["submitted_from"]),
            submitted_to=at(data["submitted_to"], end=True),
            since_export_id=data["since_export"].pk if data["since_export"] else None,
            test_fraction=data["test_fraction"],
            seed=data["seed"],
            margin=data["margin"],
            min_confidence=data["min_confidence"],
            confidence=data["confidence"],
            ties=data["ties"] or "drop",
            licence=data["licence"],
            file_format=data["file_format"] or "jsonl",
        )
