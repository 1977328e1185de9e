"""Forms for the project-setup pages. They turn request data into valid values (a bad request is
a 400 with field errors); the services in ``projects.services`` then assume valid input."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpRequest

from projects.models import Project, Role, Stream, StreamMembership

User = get_user_model()

LOGIN_WINDOW_SECONDS = 15 * 60


# --- Login ------------------------------------------------------------------------------------
def login_rate_key(ip: str, username: str) -> str:
    # Hashed: the raw username may hold characters a cache backend does not accept in keys.
    digest = hashlib.sha256(f"{ip}\n{username.strip().lower()}".encode()).hexdigest()
    return f"login-failures:{digest}"


class LoginRateLimitMixin:
    """Refuses to check a password once ``settings.LOGIN_RATE_LIMIT`` failed attempts were made
    for the same IP address and username within 15 minutes. The window starts at the first
    failure; a successful login clears the count. The IP is ``REMOTE_ADDR``: behind a proxy, the
    proxy must set it (gunicorn ``--forwarded-allow-ips``), never a client-supplied header.

    Atomic under parallel guesses: an attempt *reserves* its place in the count (an atomic
    increment, Redis ``INCR`` in production) before the password is checked, and is refused when
    its place is beyond the limit. So however many guesses arrive at once, at most
    ``LOGIN_RATE_LIMIT`` passwords are checked per window (reading the count first and adding the
    failure after the check let 30 parallel guesses check 14 passwords against a limit of 10).
    An attempt that checked no password (a field missing) gives its place back."""

    RATE_LIMITED_MESSAGE = (
        "Too many failed sign-in attempts for this account from your address. "
        "Wait 15 minutes and try again, or ask a project manager to reset your password."
    )
    request: HttpRequest | None
    data: Any

    def _rate_key(self) -> str:
        ip = self.request.META.get("REMOTE_ADDR", "") if self.request is not None else ""
        return login_rate_key(ip, self.data.get("username", "") or "")

    def clean(self) -> dict[str, Any]:
        key = self._rate_key()
        if self.data.get("username") and self.data.get("password"):
            cache.add(key, 0, timeout=LOGIN_WINDOW_SECONDS)  # starts the window; no-op when running
            try:
                place = cache.incr(key)
            except ValueError:  # expired between add and incr: start a new window
                cache.add(key, 0, timeout=LOGIN_WINDOW_SECONDS)
                place = cache.incr(key)
            if place > settings.LOGIN_RATE_LIMIT:
                raise ValidationError(self.RATE_LIMITED_MESSAGE, code="rate_limited")
        elif (cache.get(key) or 0) >= settings.LOGIN_RATE_LIMIT:
            raise ValidationError(self.RATE_LIMITED_MESSAGE, code="rate_limited")
        cleaned: dict[str, Any] = super().clean()  # type: ignore[misc]  # a failure keeps its place
        if getattr(self, "user_cache", None) is not None:
            cache.delete(key)  # signed in: the count starts again
        return cleaned

    @property
    def is_rate_limited(self) -> bool:
        return bool(self.has_error(forms.forms.NON_FIELD_ERRORS, "rate_limited"))  # type: ignore[attr-defined]


class RateLimitedAuthenticationForm(LoginRateLimitMixin, AuthenticationForm):
    pass


class RateLimitedAdminAuthenticationForm(LoginRateLimitMixin, AdminAuthenticationForm):
    """The admin's login form shares the limit, so it is not a way around it."""


# --- Projects and streams ---------------------------------------------------------------------
class ProjectForm(forms.ModelForm[Project]):
    class Meta:
        model = Project
        fields = ["name", "slug", "description"]
        help_texts = {
            "slug": "Short name used in URLs and on the command line, e.g. support-copilot-v3.",
            "description": "Markdown. Shown to every member on the project page.",
        }
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}


class ProjectEditForm(forms.ModelForm[Project]):
    """The slug is fixed once created: scripts and imports refer to it."""

    class Meta:
        model = Project
        fields = ["name", "description", "archived"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}
        help_texts = {"archived": "Archived projects are listed last and hidden from annotators' home page."}


RUBRIC_CHOICES = [(name, name.capitalize()) for name in Stream.RUBRIC_CHOICES]
# Attributes and harm categories: names a PM writes, one per line on the page (a JSON list in the
# API). They become keys of ``Judgement.axes`` and labels on the item page: short and distinct.
MAX_NAMES = 12
MAX_NAME_CHARS = 40


class NamesWidget(forms.Textarea):
    def format_value(self, value: Any) -> str | None:
        if isinstance(value, list | tuple):
            return "\n".join(str(name) for name in value)
        return super().format_value(value)


class NamesField(forms.Field):
    """A list of distinct, non-empty names: lines of text from the stream page, or a list (the API
    and the commands). Names are stripped; blank lines of the text are no names; an empty name in
    a list, a repeated name (ignoring case) or a name that is too long is an error naming it."""

    widget = NamesWidget

    def to_python(self, value: Any) -> list[str]:
        if value in (None, ""):
            return []
        if isinstance(value, str):
            return [line.strip() for line in value.splitlines() if line.strip()]
        if not isinstance(value, list | tuple):
            raise ValidationError("Give a list of names (one per line).", code="invalid")
        names = []
        for name in value:
            if not isinstance(name, str):
                raise ValidationError("Each name must be text.", code="invalid")
            names.append(name.strip())
        return names

    def validate(self, value: Any) -> None:
        super().validate(value)
        if any(not name for name in value):
            raise ValidationError("Names cannot be empty.", code="empty")
        if len(value) > MAX_NAMES:
            raise ValidationError(f"At most {MAX_NAMES} names.", code="too_many")
        long = [name for name in value if len(name) > MAX_NAME_CHARS]
        if long:
            raise ValidationError(f"{long[0]!r} is longer than {MAX_NAME_CHARS} characters.", code="too_long")
        seen: set[str] = set()
        for name in value:
            if name.casefold() in seen:
                raise ValidationError(f"{name!r} is given twice.", code="duplicate")
            seen.add(name.casefold())

    def has_changed(self, initial: Any, data: Any) -> bool:
        return bool(self.to_python(initial) != self.to_python(data))


class StreamForm(forms.ModelForm[Stream]):
    """Every setting of a stream. The slug must be unique within the project; the database
    enforces it too, this gives the PM a field error instead of a 500."""

    rubric = forms.MultipleChoiceField(
        choices=RUBRIC_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Attributes annotators rate from 0 to 4 for each response, in addition to the preference.",
    )
    attributes = NamesField(
        required=False,
        label="Attributes compared",
        help_text="Per-attribute pairwise streams: one attribute per line (e.g. correctness), most important "
        "first; annotators choose A, B or tie for each.",
    )
    justification_min_words = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=1000,
        label="Justification: min. words",
        help_text="Per-attribute pairwise streams: a written justification of at least this many words is "
        "required (0 or empty: optional).",
    )
    harm_categories = NamesField(
        required=False,
        label="Harm categories",
        help_text="Helpful-and-safe streams: one category per line (e.g. violence); an annotator may pick one "
        "for a response flagged unsafe. Empty: a plain safe / unsafe flag.",
    )

    # Not a setting: kept with the guidelines' new version when the text changes (``update_stream``).
    change_note = forms.CharField(
        required=False,
        max_length=500,
        label="Change note",
        help_text="When you change the guidelines: what changed and why. Kept with the new version; "
        "annotators see it above the changes.",
    )

    class Meta:
        model = Stream
        fields = [
            "name",
            "slug",
            "status",
            "priority",
            "guidelines",
            "task_kind",
            "rubric",
            "attributes",
            "justification_min_words",
            "harm_categories",
            "mode",
            "overlap",
            "adaptive_overlap",
            "adaptive_min_agree",
            "order",
            "lease_minutes",
            "golden_rate",
            "show_golden_explanation",
            "review_rate",
            "min_gold_accuracy",
            "min_gold_count",
            "min_agreement",
            "min_seconds",
            "min_sample",
            "min_confidence",
            "max_turns",
            "truncated_answers",
            "purpose",
            "purpose_domain",
            "purpose_language",
            "purpose_capability",
            "purpose_safety",
        ]
        widgets = {
            "guidelines": forms.Textarea(attrs={"rows": 14, "spellcheck": "true"}),
            "golden_rate": forms.NumberInput(attrs={"step": "0.01", "min": "0", "max": "1"}),
            "review_rate": forms.NumberInput(attrs={"step": "0.01", "min": "0", "max": "1"}),
            "min_gold_accuracy": forms.NumberInput(attrs={"step": "0.01", "min": "0", "max": "1"}),
            "min_agreement": forms.NumberInput(attrs={"step": "0.01", "min": "-1", "max": "1"}),
            "min_seconds": forms.NumberInput(attrs={"step": "0.5", "min": "0"}),
        }
        labels = {
            "task_kind": "Task kind",
            "mode": "Labeling mode",
            "overlap": "Overlap (annotators per item)",
            "adaptive_overlap": "Adaptive overlap",
            "adaptive_min_agree": "Stop early when this many agree",
            "order": "Item order",
            "lease_minutes": "Lease (minutes)",
            "golden_rate": "Golden rate",
            "show_golden_explanation": "Show the explanation after a wrong golden answer",
            "review_rate": "Review rate",
            "min_gold_accuracy": "Min. gold accuracy",
            "min_gold_count": "Min. golden answers before acting",
            "min_agreement": "Min. agreement",
            "min_seconds": "Min. seconds per item",
            "min_sample": "Min. sample for bias indicators",
            "min_confidence": "Min. confidence of an exported pair",
            "max_turns": "Max. turns per conversation",
            "truncated_answers": "Answers cut off at the token limit",
            "purpose": "Purpose (the weakness it targets)",
            "purpose_domain": "Domain",
            "purpose_language": "Language",
            "purpose_capability": "Capability",
            "purpose_safety": "Safety area",
        }
        help_texts = {
            "slug": "Used in URLs and by import_items; unique within the project.",
            "guidelines": "Annotators read this before and while labeling. HTML is shown as text, not run.",
            "overlap": "Distinct annotators who judge each item.",
            "adaptive_overlap": "Stop before the full overlap when the first judgements agree.",
            "golden_rate": "Share of served items that are golden (0–1).",
            "review_rate": "Share of judgements sampled for review (0–1).",
            "min_gold_accuracy": "Below this (0–1), an annotator is paused automatically.",
            "min_agreement": "Krippendorff's alpha below which the stream raises an alert (−1 to 1).",
            "min_seconds": "A median below this flags rushing.",
            "max_turns": "Dynamic streams only.",
            "truncated_answers": "Dynamic streams only. Cut-off answers are always marked as such.",
            "priority": "Higher streams are offered first.",
        }

    # Sections of the form page; "guidelines" has its own, beside the live preview.
    FIELDSETS = [
        ("Basics", ["name", "slug", "status", "priority"]),
        ("Purpose", ["purpose", "purpose_domain", "purpose_language", "purpose_capability", "purpose_safety"]),
        (
            "Task",
            [
                "task_kind",
                "mode",
                "rubric",
                "attributes",
                "justification_min_words",
                "harm_categories",
                "max_turns",
                "truncated_answers",
            ],
        ),
        ("Assignment", ["overlap", "adaptive_overlap", "adaptive_min_agree", "order", "lease_minutes"]),
        (
            "Golden examples and review",
            ["golden_rate", "show_golden_explanation", "review_rate"],
        ),
        (
            "Quality thresholds",
            ["min_gold_accuracy", "min_gold_count", "min_agreement", "min_seconds", "min_sample", "min_confidence"],
        ),
    ]

    def __init__(self, *args: Any, project: Project, preview_url: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        if self.instance.pk:
            self.initial.setdefault("rubric", list(self.instance.rubric or []))
        if preview_url:
            # Live preview: htmx posts the text (CSRF header from <body hx-headers>) after a pause
            # in typing; hx-sync drops a stale request when a newer one starts.
            self.fields["guidelines"].widget.attrs.update(
                {
                    "hx-post": preview_url,
                    "hx-trigger": "keyup changed delay:300ms, paste delay:300ms",
                    "hx-target": "#guidelines-preview",
                    "hx-params": "guidelines",
                    "hx-sync": "this:replace",
                    "aria-controls": "guidelines-preview",
                }
            )

    def fieldsets(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(title, [self[name] for name in names]) for title, names in self.FIELDSETS]

    def clean_slug(self) -> str:
        slug: str = self.cleaned_data["slug"]
        taken = Stream.objects.filter(project=self.project, slug=slug)
        if self.instance.pk:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise ValidationError("This project already has a stream with this slug.", code="unique")
        return slug

    def clean_justification_min_words(self) -> int:
        return int(self.cleaned_data.get("justification_min_words") or 0)

    def clean_rubric(self) -> list[str]:
        chosen = set(self.cleaned_data.get("rubric") or [])
        # Keep the canonical order so the labeling page and exports list attributes consistently.
        return [name for name in Stream.RUBRIC_CHOICES if name in chosen]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        overlap, min_agree = cleaned.get("overlap"), cleaned.get("adaptive_min_agree")
        if cleaned.get("adaptive_overlap") and overlap and min_agree and min_agree > overlap:
            self.add_error("adaptive_min_agree", "Cannot be more than the overlap.")
        kind = cleaned.get("task_kind")
        if kind == Stream.TaskKind.ATTRIBUTE_PAIRWISE and "attributes" in cleaned and not cleaned["attributes"]:
            self.add_error("attributes", "A per-attribute pairwise stream needs at least one attribute.")
        # Live chat judges each turn with the pairwise controls (dynamic.views): the two-axis and
        # per-attribute pages are for static items.
        if kind in (Stream.TaskKind.HELPFUL_SAFE, Stream.TaskKind.ATTRIBUTE_PAIRWISE) and (
            cleaned.get("mode") == Stream.Mode.DYNAMIC
        ):
            self.add_error("mode", "Helpful-and-safe and per-attribute pairwise streams are static only.")
        return cleaned

    def stream_fields(self) -> dict[str, Any]:
        """The cleaned values as keyword arguments for ``create_stream`` / ``update_stream``."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


def bound_stream_form(*, project: Project, changes: Mapping[str, Any], stream: Stream | None = None) -> StreamForm:
    """The stream form bound to the stream's current settings (a new stream's defaults when
    ``stream`` is None) with ``changes`` on top: how the API and the commands validate a partial
    change exactly as the stream page does. The form works on its own copy of the stream."""
    instance = Stream.objects.get(pk=stream.pk) if stream is not None else Stream(project=project)
    current = StreamForm(instance=instance, project=project)
    data = {**{name: current[name].value() for name in StreamForm.Meta.fields}, **changes}
    return StreamForm(data, instance=instance, project=project)


class MarkdownPreviewForm(forms.Form):
    guidelines = forms.CharField(required=False, max_length=200_000, strip=False)


# --- Members ----------------------------------------------------------------------------------
_validate_username = UnicodeUsernameValidator()


class StreamsField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.name)


class InviteForm(forms.Form):
    """Invite people by username, one per line, optionally followed by an email address for an
    account created here."""

    usernames = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "alice\nbob bob@example.org"}),
        help_text="One per line: a username, optionally followed by an email address (used for new accounts).",
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)
    streams = StreamsField(
        queryset=Stream.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="They are invited to these streams (and take each stream's qualification test).",
    )
    create = forms.BooleanField(
        required=False,
        label="Create accounts that do not exist yet",
        help_text="Each new account gets a generated password, shown once on the next page.",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        streams = self.fields["streams"]
        assert isinstance(streams, StreamsField)
        streams.queryset = project.streams.order_by("name")

    def clean_usernames(self) -> list[tuple[str, str]]:
        return parse_member_lines(self.cleaned_data["usernames"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        entries = cleaned.get("usernames")
        if entries and not cleaned.get("create"):
            wanted = [username for username, _ in entries]
            existing = set(User.objects.filter(username__in=wanted).values_list("username", flat=True))
            missing = [username for username in wanted if username not in existing]
            if missing:
                self.add_error(
                    "usernames",
                    f"No account named {', '.join(missing)}. Tick “Create accounts” to create them.",
                )
        return cleaned


def parse_member_lines(text: str) -> list[tuple[str, str]]:
    """``"alice\\nbob bob@example.org"`` → ``[("alice", ""), ("bob", "bob@example.org")]``;
    commas and semicolons also separate. Raises ``ValidationError`` naming the bad line."""
    entries: list[tuple[str, str]] = []
    seen: set[str] = set()
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        parts = raw.replace(",", " ").replace(";", " ").split()
        if not parts:
            continue
        username, email = parts[0], " ".join(parts[1:])
        try:
            _validate_username(username)
            if len(username) > 150:
                raise ValidationError("150 characters at most.")
            if email:
                validate_email(email)
        except ValidationError as exc:
            errors.append(f"Line {number} ({raw.strip()}): {' '.join(exc.messages)}")
            continue
        if username not in seen:
            seen.add(username)
            entries.append((username, email))
    if errors:
        raise ValidationError(errors)
    if not entries:
        raise ValidationError("Enter at least one username.")
    return entries


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class StreamStatusForm(forms.Form):
    """A PM moving one member along a stream's state machine; ``status`` is checked against
    ``StreamMembership.TRANSITIONS`` by the view (through the service)."""

    status = forms.ChoiceField(choices=StreamMembership.Status.choices)
    reason = forms.CharField(required=False, max_length=500)
