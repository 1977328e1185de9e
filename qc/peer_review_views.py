"""The PM's peer-review actions on an annotator's QC page (``qc.peer_review``): make them a peer
reviewer of the stream (refused, with the reasons and figures, unless they are eligible) or stop
it. The peer reviewer's own pages are the review queue's (``qc.views.review_queue``)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from projects.access import get_stream_for_pm
from qc import peer_review
from qc.forms import NoteForm
from qc.views import _get_annotator_in_stream


@login_required
@require_POST
def peer_review_start(request: HttpRequest, stream_id: int, user_id: int) -> HttpResponse:
    stream = get_stream_for_pm(request, stream_id)
    annotator = _get_annotator_in_stream(stream, user_id)
    try:
        peer_review.make_peer_reviewer(stream=stream, user=annotator, actor=request.user)
    except peer_review.NotEligible as exc:
        messages.error(request, f"{annotator} cannot be a peer reviewer of {stream.name}: {exc.eligibility.because}.")
    else:
        messages.success(request, f"{annotator} is a peer reviewer of {stream.name}: they can review sampled work now.")
    return redirect("qc:annotator_qc", stream_id=stream.pk, user_id=annotator.pk)


@login_required
@require_POST
def peer_review_stop(request: HttpRequest, stream_id: int, user_id: int) -> HttpResponse:
    stream = get_stream_for_pm(request, stream_id)
    annotator = _get_annotator_in_stream(stream, user_id)
    form = NoteForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    if peer_review.stop_peer_review(stream=stream, user=annotator, actor=request.user, reason=note):
        messages.success(request, f"{annotator} no longer reviews in {stream.name}.")
    else:
        messages.error(request, f"{annotator} is not a peer reviewer of {stream.name}.")
    return redirect("qc:annotator_qc", stream_id=stream.pk, user_id=annotator.pk)
