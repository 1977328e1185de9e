"""The PM's "New streams from an evaluation file" page (``/projects/<slug>/streams/from-eval/``).

Step 1: upload a JSONL of prompts with per-category scores (``dynamic.evalfile``); every line is
checked, errors name the line and the field, and nothing is kept. Step 2: the categories ranked by
mean score, weakest first; the PM ticks the ones to work on and gets one dynamic stream per
category with its prompts as conversation starters (``services.create_streams_from_eval``).

Between the two steps the checked file waits in the cache for an hour under a random token, signed
with the PM's and the project's ids: another user or project cannot use it. PMs only (an outsider
gets 404, a member below PM 403).
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from dynamic import evalfile, services
from dynamic.forms import EvalChooseForm, EvalUploadForm
from projects.access import get_project_for_pm
from projects.models import Project

PENDING_SECONDS = 3600
WEAKEST_PRESELECTED = 3
_SALT = "dynamic.eval-upload"


def _pending_key(token: str) -> str:
    return f"dynamic:eval-upload:{token}"


def _sign(request: HttpRequest, project: Project, token: str) -> str:
    return signing.dumps({"t": token, "u": request.user.pk, "p": project.pk}, salt=_SALT)


def _pending(request: HttpRequest, project: Project, signed: str) -> tuple[str, dict[str, Any]] | None:
    """The checked file waiting under ``signed`` for this PM and project (None: expired or not theirs)."""
    try:
        value = signing.loads(signed, salt=_SALT, max_age=PENDING_SECONDS)
    except signing.BadSignature:
        return None
    if value.get("u") != request.user.pk or value.get("p") != project.pk:
        return None
    pending = cache.get(_pending_key(str(value.get("t"))))
    return (str(value["t"]), pending) if pending is not None else None


def _choose_page(
    request: HttpRequest, project: Project, pending: dict[str, Any], form: EvalChooseForm, status: int = 200
) -> HttpResponse:
    evaluation: evalfile.EvalFile = pending["evaluation"]
    context = {
        "project": project,
        "ranking": evaluation.ranking(),
        "evaluation": evaluation,
        "filename": pending["filename"],
        "form": form,
    }
    return render(request, "dynamic/streams_from_eval.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def streams_from_eval(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_pm(request, slug)
    if request.method == "POST" and "token" in request.POST:
        found = _pending(request, project, request.POST["token"])
        if found is None:
            messages.error(request, "The uploaded file has expired (an hour): upload it again.")
            return redirect("dynamic:streams_from_eval", slug=project.slug)
        token, pending = found
        categories = [row.category for row in pending["evaluation"].ranking()]
        form = EvalChooseForm(request.POST, categories=categories)
        if not form.is_valid():
            return _choose_page(request, project, pending, form, status=400)
        chosen = [name for name in categories if name in set(form.cleaned_data["categories"])]
        streams = services.create_streams_from_eval(
            project=project,
            evaluation=pending["evaluation"],
            categories=chosen,
            source=pending["filename"],
            use_endpoints=form.cleaned_data["use_endpoints"],
        )
        cache.delete(_pending_key(token))
        messages.success(
            request,
            f"{len(streams)} dynamic stream{'s' if len(streams) != 1 else ''} opened as drafts: "
            + ", ".join(stream.name for stream in streams)
            + ". Check their settings and endpoints, then make them active.",
        )
        return redirect("project_detail", slug=project.slug)
    upload = EvalUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if not upload.is_valid():
            return render(request, "dynamic/streams_from_eval.html", {"project": project, "upload": upload}, status=400)
        file = upload.cleaned_data["file"]
        evaluation = evalfile.read_eval_lines(file)  # lines as bytes: each decoded and checked alone
        if not evaluation.ok:
            context = {"project": project, "upload": EvalUploadForm(), "evaluation": evaluation, "filename": file.name}
            return render(request, "dynamic/streams_from_eval.html", context, status=400)
        token = secrets.token_urlsafe(16)
        pending = {"evaluation": evaluation, "filename": file.name[:300]}
        cache.set(_pending_key(token), pending, PENDING_SECONDS)
        ranking = evaluation.ranking()
        form = EvalChooseForm(
            initial={
                "token": _sign(request, project, token),
                "categories": [r.category for r in ranking[:WEAKEST_PRESELECTED]],
            },
            categories=[row.category for row in ranking],
        )
        return _choose_page(request, project, pending, form)
    return render(request, "dynamic/streams_from_eval.html", {"project": project, "upload": upload})
