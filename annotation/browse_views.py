"""The item browser of a stream, for its PMs and reviewers: find items by text, agreement, harmful
flags, golden and status; open one to read its judgements in the order each annotator saw the
responses. Reviewers review blind, so they see annotators as "Annotator 1, 2, ..." per item;
PMs see names. Outsiders get 404, annotators 403 (``projects.access``)."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from annotation import selectors
from annotation.models import Item, ItemEscalation, Judgement
from projects.access import get_stream_for_user, viewer_role
from projects.models import Role, Stream
from projects.rendering import render_markdown

PAGE_SIZE = 50


class ItemFilterForm(forms.Form):
    """The browser's filters (GET). Unknown values are a 400 with the form's message, not a
    silently wider list."""

    q = forms.CharField(required=False, max_length=200, label="Text")
    agreement = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any agreement"),
            ("unanimous", "Unanimous"),
            ("split", "Split"),
            ("single", "One judgement"),
            ("none", "Not judged yet"),
        ],
    )
    harmful = forms.ChoiceField(
        required=False, choices=[("", "Any flags"), ("yes", "Flagged harmful"), ("no", "Not flagged")]
    )
    golden = forms.ChoiceField(required=False, choices=[("", "Golden or not"), ("yes", "Golden"), ("no", "Not golden")])
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), ("open", "Open"), ("complete", "Complete")])


def _get_stream_for_browser(request: HttpRequest, stream_id: int) -> tuple[Stream, bool]:
    """The stream for a reviewer or PM of its project, and whether annotator names may be shown
    (PMs only)."""
    stream = get_stream_for_user(request, stream_id, role=Role.REVIEWER)
    return stream, viewer_role(request, stream.project) == Role.PM


@login_required
@require_GET
def item_browser(request: HttpRequest, stream_id: int) -> HttpResponse:
    stream = get_stream_for_user(request, stream_id, role=Role.REVIEWER)
    form = ItemFilterForm(request.GET)
    if not form.is_valid():
        context = {"stream": stream, "project": stream.project, "form": form, "page": None}
        return render(request, "annotation/item_browser.html", context, status=400)
    items = selectors.browse_items(stream, **form.cleaned_data)
    page = Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "stream": stream,
        "project": stream.project,
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "filtered": any(form.cleaned_data.values()),
    }
    return render(request, "annotation/item_browser.html", context)


@login_required
@require_GET
def item_detail(request: HttpRequest, stream_id: int, item_id: int) -> HttpResponse:
    stream, names = _get_stream_for_browser(request, stream_id)
    item = get_object_or_404(Item, stream=stream, pool=Item.Pool.WORK, pk=item_id)
    judgements = (
        Judgement.objects.filter(item=item, is_current=True).select_related("annotator").order_by("submitted_at", "pk")
    )
    rows = [
        {
            # A model judge's judgement is never shown as a person's (docs/judging.md).
            "who": "Model judge"
            if j.source == Judgement.Source.MODEL
            else (j.annotator.get_username() if names else f"Annotator {n}"),
            "judgement": j,
            "seen": selectors.seen_order(j.display_order, item.num_responses),
            "answer": selectors.answer_as_seen(j),
        }
        for n, j in enumerate(judgements, start=1)
    ]
    context = {
        "stream": stream,
        "project": stream.project,
        "item": item,
        "names": names,
        "messages_in_context": selectors.context_messages(item),
        "responses": [
            {
                "label": selectors.LETTERS[i],
                "html": render_markdown(str(r.get("text", "")) if isinstance(r, dict) else str(r)),
            }
            for i, r in enumerate(item.responses)
        ],
        "rows": rows,
        # Sent past its adaptive early stop by a room above (the model judge's escalate use).
        "escalation": ItemEscalation.objects.filter(item=item).first(),
        "back": request.GET.get("back", ""),
    }
    return render(request, "annotation/item_detail.html", context)
