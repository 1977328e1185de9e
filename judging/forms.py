"""The judge's settings form: an endpoint of the stream's project, the prompt, budget and uses."""

from __future__ import annotations

from typing import Any

from django import forms

from dynamic.models import ModelEndpoint
from judging import prompting
from judging.models import Judge
from projects.models import Stream

SETTINGS = (
    "prompt_template",
    "budget_requests",
    "budget_tokens",
    "concurrency",
    "follow",
    "use_escalate",
    "use_vote",
    "use_suggest",
    "suggest_holdout",
    "is_active",
)


class JudgeForm(forms.ModelForm):
    """Only the project's own endpoints are offered (another project's id is "not one of the
    available choices"); each was SSRF-checked and its key binding checked when it was saved, and
    both are checked again at every request (``dynamic.llm``)."""

    class Meta:
        model = Judge
        fields = ("endpoint", *SETTINGS)
        labels = {
            "endpoint": "Model endpoint",
            "prompt_template": "Judging prompt",
            "budget_requests": "Budget: requests",
            "budget_tokens": "Budget: tokens",
            "concurrency": "Requests in flight",
            "follow": "Judge new items as they arrive",
            "use_escalate": "Escalate: more annotators where the judge disagrees with the first people",
            "use_vote": "Vote: the judge's verdicts join aggregation as one more worker",
            "use_suggest": "Suggest: annotators see the judge's pick",
            "suggest_holdout": "Suggestion hold-out share",
            "is_active": "Active",
        }
        help_texts = {
            "endpoint": "One of this project's model endpoints. Its URL and key are checked at every request.",
            "prompt_template": (
                "Placeholders: {{ guidelines }}, {{ context }}, {{ response_a }}, {{ response_b }} (both responses "
                "required). Each item is asked twice, the responses swapped the second time; only answers that agree "
                "count. The answer is read from a 'Verdict: A|B|tie' line, JSON with a verdict, or [[A]]/[[B]]/[[C]]."
            ),
            "budget_requests": "Every request counts, retries included. Two per item.",
            "budget_tokens": "Prompt and completion tokens as the endpoint reports them (estimated when it does not).",
            "concurrency": "How many items are asked about at once (1–16).",
            "follow": "Each period, new items of the stream are judged (while the budget lasts).",
            "suggest_holdout": "Share of items (0–1) shown without the judge's pick, to measure anchoring.",
        }
        widgets = {"prompt_template": forms.Textarea(attrs={"rows": 18, "class": "mono"})}

    def __init__(self, *args: Any, stream: Stream, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream = stream
        endpoint_field = self.fields["endpoint"]
        assert isinstance(endpoint_field, forms.ModelChoiceField)
        endpoint_field.queryset = ModelEndpoint.objects.filter(project_id=stream.project_id).order_by("name")
        if not self.instance.pk:
            self.initial.setdefault("prompt_template", prompting.DEFAULT_TEMPLATE)

    def clean_prompt_template(self) -> str:
        template = str(self.cleaned_data["prompt_template"]).strip()
        unknown = prompting.unknown_placeholders(template)
        if unknown:
            names = ", ".join(f"{{{{ {name} }}}}" for name in unknown)
            raise forms.ValidationError(
                f"Unknown placeholder: {names}. Use guidelines, context, response_a, response_b."
            )
        missing = prompting.missing_placeholders(template)
        if missing:
            names = ", ".join(f"{{{{ {name} }}}}" for name in missing)
            raise forms.ValidationError(f"The prompt must show both responses: add {names}.")
        return template

    def clean_concurrency(self) -> int:
        value = int(self.cleaned_data["concurrency"])
        if not 1 <= value <= 16:
            raise forms.ValidationError("Between 1 and 16.")
        return value

    def clean_suggest_holdout(self) -> float:
        value = float(self.cleaned_data["suggest_holdout"])
        if not 0.0 <= value <= 1.0:
            raise forms.ValidationError("A share between 0 and 1.")
        return value

    def judge_settings(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in SETTINGS}
