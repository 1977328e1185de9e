"""Scoped lookups of the judging room: a stream's judge and runs, for the stream's PMs."""

from __future__ import annotations

from django.http import Http404, HttpRequest

from judging.models import Judge, JudgeRun
from projects.access import get_stream_for_pm
from projects.models import Stream


def get_stream_and_judge_for_pm(request: HttpRequest, stream_id: int) -> tuple[Stream, Judge | None]:
    """A stream the user manages (404 for outsiders, 403 below PM) and its judge, if any."""
    stream = get_stream_for_pm(request, stream_id)
    judge = Judge.objects.filter(stream=stream).select_related("endpoint", "user").first()
    return stream, judge


def get_judge_for_pm(request: HttpRequest, stream_id: int) -> Judge:
    """The judge of a stream the user manages: 404 when the stream has none."""
    stream, judge = get_stream_and_judge_for_pm(request, stream_id)
    if judge is None:
        raise Http404("This stream has no judge.")
    judge.stream = stream
    return judge


def get_open_run_for_pm(request: HttpRequest, stream_id: int) -> JudgeRun:
    """The open (pending or running) run of a stream's judge: 404 when there is none."""
    judge = get_judge_for_pm(request, stream_id)
    run = JudgeRun.objects.filter(judge=judge, status__in=[JudgeRun.Status.PENDING, JudgeRun.Status.RUNNING]).first()
    if run is None:
        raise Http404("No run in progress.")
    return run
