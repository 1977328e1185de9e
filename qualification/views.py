"""The PM's qualification pages: the stream's test (settings, requirements, questions with their
statistics, import), the candidate list with its actions, the ranked invite list; and every
user's own profile.

Reviewers may read the test and candidate pages; every change needs a PM. Outsiders get 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.importing import ImportOptionsError
from annotation.models import Item
from projects import services as project_services
from projects.access import get_stream_for_pm, get_stream_for_user, viewer_role
from projects.models import AnnotatorProfile, ApiToken, Role, Stream, StreamMembership
from qualification import requirements, selectors, services
from qualification.forms import (
    AddQuestionForm,
    CandidateActionForm,
    InviteCandidateForm,
    ProfileForm,
    QualificationSettingsForm,
    QuestionImportForm,
)
from qualification.importing import InvalidQuestions, import_questions
from qualification.models import QualificationTest


class AuthedRequest(HttpRequest):
    user: User


def _warn_trivial(request: HttpRequest, stream: Stream) -> None:
    """After a change to the test: one warning per trivial strategy that passes it."""
    test = QualificationTest.objects.filter(stream=stream).first()
    if test is None:
        return
    for warning in selectors.strategy_check(test).warnings:
        messages.warning(request, f"The test can be passed without reading: {warning}.")


def _test_of(stream: Stream) -> QualificationTest:
    """The stream's test; a stream without one gets an unsaved default (saved by the first change)."""
    return QualificationTest.objects.filter(stream=stream).first() or QualificationTest(stream=stream)


def _page(
    request: AuthedRequest,
    stream: Stream,
    *,
    settings_form: QualificationSettingsForm | None = None,
    add_form: AddQuestionForm | None = None,
    import_form: QuestionImportForm | None = None,
    import_errors: list[Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    test = _test_of(stream)
    context = {
        "stream": stream,
        "project": stream.project,
        "test": test,
        "active": services.active_test(stream) is not None,
        "is_pm": viewer_role(request, stream.project) == Role.PM,
        "stats": selectors.question_stats(test) if test.pk else [],
        "strategies": selectors.strategy_check(test) if test.pk else None,
        "settings_form": settings_form or QualificationSettingsForm(instance=test, stream=stream),
        "add_form": add_form or AddQuestionForm(),
        "import_form": import_form or QuestionImportForm(),
        "import_errors": import_errors or [],
    }
    return render(request, "qualification/test_settings.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def qualification_test(request: AuthedRequest, stream_id: int) -> HttpResponse:
    """The test: settings and requirements (POST saves them), questions with difficulty."""
    if request.method == "GET":
        return _page(request, get_stream_for_user(request, stream_id, role=Role.REVIEWER))
    stream = get_stream_for_pm(request, stream_id)
    form = QualificationSettingsForm(request.POST, instance=_test_of(stream), stream=stream)
    if not form.is_valid():
        return _page(request, stream, settings_form=form, status=400)
    with transaction.atomic():
        form.save()
        project_services.update_stream(stream=stream, requirements=form.requirements())
    messages.success(request, "Test settings saved.")
    _warn_trivial(request, stream)
    return redirect("qualification:qualification_test", stream_id=stream.pk)


@require_POST
@login_required
def question_add(request: AuthedRequest, stream_id: int) -> HttpResponse:
    """Adds one of the stream's items as a question (or updates its answers)."""
    stream = get_stream_for_pm(request, stream_id)
    form = AddQuestionForm(request.POST)
    if not form.is_valid():
        return _page(request, stream, add_form=form, status=400)
    item = Item.objects.filter(stream=stream, external_id=form.cleaned_data["external_id"].strip()).first()
    if item is None:
        form.add_error("external_id", "This stream has no item with that external id.")
        return _page(request, stream, add_form=form, status=400)
    try:
        with transaction.atomic():
            test = _test_of(stream)
            if test.pk is None:
                test.save()
            services.add_question(
                test=test, item=item, answers=form.cleaned_data["answers"], explanation=form.cleaned_data["explanation"]
            )
    except ValueError as exc:
        form.add_error("answers", str(exc))
        return _page(request, stream, add_form=form, status=400)
    messages.success(request, f"Question “{item.external_id}” saved.")
    _warn_trivial(request, stream)
    return redirect("qualification:qualification_test", stream_id=stream.pk)


@require_POST
@login_required
def question_remove(request: AuthedRequest, stream_id: int, question_id: int) -> HttpResponse:
    stream = get_stream_for_pm(request, stream_id)
    test = QualificationTest.objects.filter(stream=stream).first()
    question = test.questions.filter(pk=question_id).select_related("item").first() if test else None
    if question is None:
        raise Http404("No such question.")
    services.remove_question(question=question)
    messages.success(request, "Question removed.")
    return redirect("qualification:qualification_test", stream_id=stream.pk)


@require_POST
@login_required
def question_import(request: AuthedRequest, stream_id: int) -> HttpResponse:
    """Questions from a file, through the importer's formats (small files: read in the request)."""
    stream = get_stream_for_pm(request, stream_id)
    form = QuestionImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, stream, import_form=form, status=400)
    upload = form.cleaned_data["file"]
    try:
        report = import_questions(
            stream=stream,
            source=upload,
            fmt=form.cleaned_data["format"],
            mapping=form.cleaned_data.get("mapping") or None,
            filename=upload.name or "upload",
            created_by=request.user,
        )
    except ImportOptionsError as exc:
        form.add_error(None, str(exc))
        return _page(request, stream, import_form=form, status=400)
    except InvalidQuestions as exc:
        return _page(request, stream, import_form=form, import_errors=exc.errors, status=400)
    messages.success(
        request,
        f"Imported {report.lines_read} lines: {report.questions_created} questions added, "
        f"{report.questions_updated} updated.",
    )
    _warn_trivial(request, stream)
    return redirect("qualification:qualification_test", stream_id=stream.pk)


@require_GET
@login_required
def candidates(request: AuthedRequest, stream_id: int) -> HttpResponse:
    """Everyone in the stream: status, attempts, scores, time taken, history, and the PM's actions."""
    stream = get_stream_for_user(request, stream_id, role=Role.REVIEWER)
    test = QualificationTest.objects.filter(stream=stream).first()
    context = {
        "stream": stream,
        "project": stream.project,
        "test": test,
        "rows": selectors.candidate_rows(stream=stream, test=test),
        "is_pm": viewer_role(request, stream.project) == Role.PM,
    }
    return render(request, "qualification/candidates.html", context)


@require_POST
@login_required
def candidate_action(request: AuthedRequest, stream_id: int, membership_id: int) -> HttpResponse:
    """Waive the test, allow another attempt, pause, resume or remove — with a reason."""
    stream = get_stream_for_pm(request, stream_id)
    membership = StreamMembership.objects.select_related("user").filter(stream=stream, pk=membership_id).first()
    if membership is None:
        raise Http404("No such member.")
    form = CandidateActionForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(str(e) for field in form.errors.values() for e in field)
        messages.error(request, f"{membership.user}: {errors}")
        return redirect("qualification:qualification_candidates", stream_id=stream.pk)
    action = form.cleaned_data["action"]
    try:
        services.apply_action(
            membership=membership, action=action, actor=request.user, reason=form.cleaned_data["reason"]
        )
    except (services.QualificationError, project_services.TransitionError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{membership.user}: {services.ACTIONS[action].lower()} — done.")
    return redirect("qualification:qualification_candidates", stream_id=stream.pk)


@require_http_methods(["GET", "POST"])
@login_required
def invite_ranked(request: AuthedRequest, stream_id: int) -> HttpResponse:
    """Candidates for the stream ranked by its requirements (filter: only those who meet them all);
    POST invites one (as an annotator of the project, if they are not a member yet)."""
    stream = get_stream_for_pm(request, stream_id)
    if request.method == "POST":
        form = InviteCandidateForm(request.POST)
        pool = requirements.candidate_pool(stream=stream, viewer=request.user)
        user = pool.filter(username=form.data.get("username", "")).first() if form.is_valid() else None
        if user is None:
            raise Http404("No such candidate.")
        project_services.add_member(
            project=stream.project,
            username=user.username,
            role=Role.ANNOTATOR,
            streams=[stream],
            invited_by=request.user,
        )
        messages.success(request, f"{user.username} invited to {stream.name}.")
        return redirect(f"{request.path}?{request.GET.urlencode()}" if request.GET else request.path)
    only_matching = request.GET.get("meets") == "1"
    context = {
        "stream": stream,
        "project": stream.project,
        "requirements": stream.requirements or {},
        "languages": requirements.format_languages((stream.requirements or {}).get("languages") or []),
        "matches": requirements.ranked_candidates(stream=stream, viewer=request.user, only_matching=only_matching),
        "only_matching": only_matching,
    }
    return render(request, "qualification/invite.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def profile(request: AuthedRequest) -> HttpResponse:
    """Your own annotator profile: languages with level, domains, education, profession, notes."""
    instance = AnnotatorProfile.objects.filter(user=request.user).first() or AnnotatorProfile(user=request.user)
    form = ProfileForm(request.POST or None, instance=instance)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            messages.success(request, "Profile saved.")
            return redirect("qualification:profile")
        return render(request, "qualification/profile.html", _profile_context(request, form), status=400)
    return render(request, "qualification/profile.html", _profile_context(request, form))


def _profile_context(request: AuthedRequest, form: ProfileForm) -> dict[str, Any]:
    """The form, and the user's API tokens told apart by their first characters (``key_prefix``:
    the key itself is shown once, at creation)."""
    tokens = [
        {
            "prefix": token.key_prefix,
            "name": token.name,
            "created_at": token.created_at,
            "last_used_at": token.last_used_at,
            "revoked_at": token.revoked_at,
        }
        for token in ApiToken.objects.filter(user=request.user).order_by("-created_at")
    ]
    return {"form": form, "tokens": tokens}
