"""The example gallery's pages: the gallery of a stream (its annotators, reviewers and PMs), and
the reviewer's and PM's actions that put a judgement in it or take it out (``qc.gallery``).

The gallery page names nobody: no username, user id or e-mail of whoever made or marked an example.
"""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotation.models import Judgement
from projects.access import get_stream_for_user, viewer_role
from projects.models import Role, Stream, StreamMembership
from qc import gallery
from qc.forms import GalleryForm
from qc.models import GalleryExample


def get_stream_for_gallery(request: HttpRequest, stream_id: int) -> tuple[Stream, bool]:
    """The stream and whether the viewer sees every example (reviewers and PMs). Annotators see
    the gallery of streams they were invited to (not removed from, whatever their standing:
    paused and failed members learn from it too); anyone else gets 404."""
    stream = get_stream_for_user(request, stream_id)
    role = viewer_role(request, stream.project)
    if role in (Role.PM, Role.REVIEWER):
        return stream, True
    invited = (
        StreamMembership.objects.filter(stream=stream, user=cast(User, request.user))  # login_required
        .exclude(status=StreamMembership.Status.REMOVED)
        .exists()
    )
    if not invited:
        raise Http404("No such stream.")
    return stream, False


@require_GET
@login_required
def gallery_page(request: HttpRequest, stream_id: int) -> HttpResponse:
    stream, sees_all = get_stream_for_gallery(request, stream_id)
    examples = gallery.examples_for(stream=stream, viewer=request.user, sees_all=sees_all)
    context = {
        "stream": stream,
        "entries": [gallery.entry(example) for example in examples[:200]],
        "sees_all": sees_all,
    }
    return render(request, "qc/gallery.html", context)


@require_POST
@login_required
def gallery_mark(request: HttpRequest, stream_id: int, judgement_id: int) -> HttpResponse:
    """A reviewer or PM puts a judgement of the stream in the gallery (or changes its kind and
    note). htmx gets the mark form's part back with what happened; a plain POST goes back to the
    review queue (a refused one is a 400 saying why)."""
    stream = get_stream_for_user(request, stream_id, role=Role.REVIEWER)
    judgement = get_object_or_404(Judgement.objects.select_related("item"), stream=stream, pk=judgement_id)
    form = GalleryForm(request.POST)
    status, saved = 200, ""  # 400: the form or the judgement was refused
    if not form.is_valid():
        status = 400
    else:
        try:
            gallery.mark_example(
                judgement=judgement,
                kind=form.cleaned_data["kind"],
                note=form.cleaned_data["note"],
                marked_by=request.user,
            )
        except gallery.NotGalleryMaterial as exc:
            form.add_error(None, str(exc))
            status = 400
        else:
            saved = f"In the gallery as {dict(GalleryExample.Kind.choices)[form.cleaned_data['kind']].lower()}."
    if getattr(request, "htmx", False):
        context = {"stream": stream, "judgement": judgement, "gallery_form": form, "gallery_saved": saved}
        # htmx swaps only 2xx: an invalid form comes back as 200 with its errors.
        return render(request, "qc/_gallery_mark.html", context)
    if status == 400:
        problems = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return HttpResponse(problems, status=400, content_type="text/plain")
    messages.success(request, saved)
    return redirect("qc:review_queue", stream_id=stream.pk)


@require_POST
@login_required
def gallery_remove(request: HttpRequest, stream_id: int, example_id: int) -> HttpResponse:
    stream = get_stream_for_user(request, stream_id, role=Role.REVIEWER)
    example = get_object_or_404(GalleryExample, stream=stream, pk=example_id)
    gallery.remove_example(example=example)
    messages.success(request, "Taken out of the gallery.")
    return redirect("qc:gallery", stream_id=stream.pk)
