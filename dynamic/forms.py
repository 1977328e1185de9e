"""Model endpoint forms (SSRF-checked URLs, key variable names) and a stream's endpoint weights."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from dynamic.models import ModelEndpoint
from projects.models import Project


# --- Model endpoints --------------------------------------------------------------------------
def clean_endpoint_url(value: str) -> str:
    """An endpoint's base URL, refused when it reaches a private, loopback, link-local or metadata
    address (the save-time SSRF check; every connection checks again). Used by the PM form and
    the admin."""
    from dynamic import netguard

    url = value.strip()
    try:
        netguard.check_url(url)
    except netguard.UnsafeEndpoint as exc:
        raise ValidationError(str(exc), code="unsafe") from None
    return url.rstrip("/")


def clean_key_env_name(value: str) -> str:
    """The *name* of the environment variable holding an endpoint's key: it must end in
    ``_API_KEY``, so nobody can send another secret (``SECRET_KEY``...) to a server of theirs.
    Whether the key may be used with this project and URL is ``check_key_binding``."""
    from dynamic.llm import KEY_ENV_PATTERN

    name = value.strip()
    if name and not KEY_ENV_PATTERN.match(name):
        raise ValidationError(
            "Enter the name of an environment variable ending in _API_KEY (capital letters, digits, "
            "underscores), e.g. OPENAI_API_KEY — not the key itself.",
            code="invalid",
        )
    return name


def check_key_binding(form: forms.BaseForm, *, project_slug: str) -> None:
    """Adds an ``api_key_env`` error when the operator has not made the key available to the
    project or has not bound it to the URL's host (``QUORUM_ENDPOINT_KEYS``)."""
    from dynamic.keys import key_problem

    name = form.cleaned_data.get("api_key_env")
    base_url = form.cleaned_data.get("base_url")
    if not name or not base_url:
        return
    problem = key_problem(name, project_slug=project_slug, base_url=base_url)
    if problem:
        form.add_error("api_key_env", ValidationError(problem, code="unbound"))


def key_help_text(project_slug: str) -> str:
    """The key field's help: the variables the operator made available to this project."""
    from dynamic.keys import available_keys

    keys = available_keys(project_slug)
    if not keys:
        return (
            "The operator has made no API key available to this project (QUORUM_ENDPOINT_KEYS); leave empty for "
            "servers without a key."
        )
    offered = "; ".join(f"{k.name} (sent only to {k.describe_hosts()})" for k in keys)
    return f"The NAME of the key variable, one of: {offered}. Empty for servers without a key."


class EndpointForm(forms.Form):
    """A model endpoint. The URL passes the SSRF guard here (and again at every connection); the
    key is named, never entered: ``api_key_env`` is the name of an environment variable of the
    web and worker processes, restricted to ``*_API_KEY`` names so an endpoint cannot be pointed
    at another secret of the server (SECRET_KEY, DATABASE_URL...) and send it as a bearer token."""

    name = forms.CharField(max_length=100, help_text="Shown to PMs only; annotators see A and B.")
    base_url = forms.CharField(
        max_length=500,
        label="Base URL",
        help_text="The OpenAI-compatible API root, e.g. http://vllm.internal:8000/v1, http://ollama:11434/v1, "
        "https://api.openai.com/v1.",
    )
    model = forms.CharField(
        max_length=200, help_text="The model name the server expects, e.g. meta-llama/Llama-3.1-8B-Instruct."
    )
    system_prompt = forms.CharField(required=False, max_length=20_000, widget=forms.Textarea(attrs={"rows": 4}))
    temperature = forms.FloatField(
        required=False, min_value=0, max_value=2, widget=forms.NumberInput(attrs={"step": "0.05"})
    )
    top_p = forms.FloatField(
        required=False, min_value=0, max_value=1, label="Top p", widget=forms.NumberInput(attrs={"step": "0.05"})
    )
    max_tokens = forms.IntegerField(required=False, min_value=1, max_value=32_768, label="Max tokens")
    api_key_env = forms.CharField(
        required=False,
        max_length=100,
        label="API key variable",
        help_text="The NAME of the environment variable holding the key, e.g. OPENAI_API_KEY (names end in _API_KEY). "
        "Empty for servers without a key.",
    )
    timeout_seconds = forms.IntegerField(min_value=1, max_value=600, initial=60, label="Timeout (seconds)")
    is_active = forms.BooleanField(
        required=False,
        initial=True,
        label="Active",
        help_text="Inactive endpoints are not drawn for new conversations.",
    )

    def __init__(self, *args: Any, project: Project, instance: ModelEndpoint | None = None, **kwargs: Any) -> None:
        if instance is not None and "initial" not in kwargs:
            params = instance.parameters or {}
            kwargs["initial"] = {
                "name": instance.name,
                "base_url": instance.base_url,
                "model": instance.model,
                "system_prompt": instance.system_prompt,
                "temperature": params.get("temperature"),
                "top_p": params.get("top_p"),
                "max_tokens": params.get("max_tokens"),
                "api_key_env": instance.api_key_env,
                "timeout_seconds": instance.timeout_seconds,
                "is_active": instance.is_active,
            }
        super().__init__(*args, **kwargs)
        self.project = project
        self.instance = instance
        self.fields["api_key_env"].help_text = key_help_text(project.slug)

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        taken = ModelEndpoint.objects.filter(project=self.project, name=name)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise ValidationError("This project already has an endpoint with this name.", code="unique")
        return name

    def clean_base_url(self) -> str:
        return clean_endpoint_url(self.cleaned_data["base_url"])

    def clean_api_key_env(self) -> str:
        return clean_key_env_name(self.cleaned_data["api_key_env"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        check_key_binding(self, project_slug=self.project.slug)
        return cleaned

    def endpoint_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        parameters = {name: data[name] for name in ("temperature", "top_p", "max_tokens") if data.get(name) is not None}
        return {
            "name": data["name"],
            "base_url": data["base_url"],
            "model": data["model"].strip(),
            "parameters": parameters,
            "system_prompt": data["system_prompt"],
            "api_key_env": data["api_key_env"],
            "timeout_seconds": data["timeout_seconds"],
            "is_active": data["is_active"],
        }


class StreamEndpointsForm(forms.Form):
    """Which of the project's endpoints a dynamic stream draws from, and their weights: one
    ``weight_<endpoint id>`` field per endpoint; 0 or empty leaves the endpoint out."""

    def __init__(self, *args: Any, endpoints: list[ModelEndpoint], current: dict[int, float], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.endpoints = endpoints
        for endpoint in endpoints:
            self.fields[f"weight_{endpoint.pk}"] = forms.FloatField(
                required=False,
                min_value=0,
                max_value=1000,
                initial=current.get(endpoint.pk),
                label=endpoint.name,
                widget=forms.NumberInput(attrs={"step": "0.1", "min": "0"}),
            )

    def rows(self) -> list[tuple[ModelEndpoint, forms.BoundField]]:
        return [(endpoint, self[f"weight_{endpoint.pk}"]) for endpoint in self.endpoints]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        chosen = [e for e in self.endpoints if (cleaned.get(f"weight_{e.pk}") or 0) > 0]
        if len(chosen) == 1:
            raise ValidationError("A dynamic stream compares models: give at least two endpoints a weight above 0.")
        return cleaned

    def weights(self) -> dict[int, float]:
        return {e.pk: float(w) for e in self.endpoints if (w := self.cleaned_data.get(f"weight_{e.pk}") or 0) > 0}


# --- Streams from an evaluation file ------------------------------------------------------------
EVAL_MAX_BYTES = 20 * 1024 * 1024  # the web upload; the command reads any size


class EvalUploadForm(forms.Form):
    """Step 1: the evaluation file (``dynamic.evalfile``), read and checked line by line."""

    file = forms.FileField(
        label="Evaluation file (JSONL)",
        help_text="One prompt a line with its category and score (higher is better); see the format below.",
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > EVAL_MAX_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {EVAL_MAX_BYTES // (1024 * 1024)} MB: "
                "use manage.py streams_from_eval for larger files."
            )
        return upload


class EvalChooseForm(forms.Form):
    """Step 2: the categories to open a stream for, among those of the uploaded file."""

    token = forms.CharField(widget=forms.HiddenInput)
    categories = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple, error_messages={"required": "Pick at least one category."}
    )
    use_endpoints = forms.BooleanField(
        required=False,
        initial=True,
        label="Draw from every active model endpoint of the project",
        help_text="Each stream compares them; change a stream's endpoints later on its Models page.",
    )

    def __init__(self, *args: Any, categories: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["categories"]
        assert isinstance(field, forms.MultipleChoiceField)  # declared above
        field.choices = [(name, name) for name in categories]
