"""Pages for people and project setup: home, projects, streams, members.

Every lookup goes through ``projects.access`` (outsiders get 404, lower roles 403); every write
goes through ``projects.services``. htmx requests to the partial endpoints get only the fragment
(``"page.html#part"``); every form also works as a plain POST without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Case, Count, Prefetch, Q, When
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from projects import hooks, selectors, services
from projects.access import (
    get_project_for_pm,
    get_project_for_user,
    get_stream_for_pm,
    get_stream_for_user,
    viewer_role,
)
from projects.forms import (
    InviteForm,
    MarkdownPreviewForm,
    ProjectEditForm,
    ProjectForm,
    RateLimitedAuthenticationForm,
    RoleForm,
    StreamForm,
    StreamStatusForm,
)
from projects.models import Membership, Project, Role, Stream, StreamMembership
from projects.rendering import render_markdown


class AuthedRequest(HttpRequest):
    """What the pages below receive: a signed-in user (``login_required``) and django-htmx's details."""

    user: User
    htmx: HtmxDetails


# --- Auth -------------------------------------------------------------------------------------
class LoginView(auth_views.LoginView):
    """Django's login view with the rate-limited form; a blocked attempt answers 429."""

    form_class = RateLimitedAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form: Any) -> HttpResponse:
        response = super().form_invalid(form)
        if getattr(form, "is_rate_limited", False):
            response.status_code = 429
        return response

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # A fresh install (`make serve` before `make run`) has nobody to sign in as: say how to
        # make the first account instead of sending the reader to a PM who does not exist yet.
        context["no_users"] = not User.objects.exists()
        return context


def can_create_projects(user: Any) -> bool:
    """Staff, and anyone granted the ``projects.add_project`` permission in the admin."""
    return bool(user.is_authenticated and (user.is_staff or user.has_perm("projects.add_project")))


def _get_stream_for_viewer(request: AuthedRequest, stream_id: int) -> tuple[Stream, str]:
    """A stream page: reviewers and PMs see every stream of their project, annotators only the
    streams they were invited to (and not removed from); anyone else gets 404."""
    stream = get_stream_for_user(request, stream_id)
    role = viewer_role(request, stream.project)
    if role == Role.ANNOTATOR:
        invited = (
            StreamMembership.objects.filter(stream=stream, user=request.user)
            .exclude(status=StreamMembership.Status.REMOVED)
            .exists()
        )
        if not invited:
            raise Http404("No such stream.")
    return stream, role


# --- Home -------------------------------------------------------------------------------------
@require_GET
@login_required
def home(request: AuthedRequest) -> HttpResponse:
    user = request.user
    roles = dict(Membership.objects.filter(user_id=user.pk).values_list("project_id", "role"))
    projects = Project.objects.all() if user.is_staff else Project.objects.filter(pk__in=roles)
    my_streams = {
        sm.stream_id: sm
        for sm in StreamMembership.objects.filter(user_id=user.pk).exclude(status=StreamMembership.Status.REMOVED)
    }
    rows = []
    for project in projects.order_by("archived", "name").prefetch_related(
        Prefetch("streams", queryset=Stream.objects.order_by("-priority", "name"))
    ):
        role = roles.get(project.pk, "")
        manages = role in (Role.PM, Role.REVIEWER) or (not role and user.is_staff)
        if not manages and project.archived:
            continue
        streams = [
            (stream, my_streams.get(stream.pk))
            for stream in project.streams.all()
            if manages or stream.pk in my_streams
        ]
        rows.append({"project": project, "role": role, "role_label": _role_label(role), "streams": streams})
    return render(
        request,
        "projects/home.html",
        {"rows": rows, "can_create": can_create_projects(user)},
    )


def _role_label(role: str) -> str:
    return Role(role).label if role else "Staff"


# --- Projects ---------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@login_required
def project_create(request: AuthedRequest) -> HttpResponse:
    if not can_create_projects(request.user):
        raise PermissionDenied("Only staff can create projects.")
    form = ProjectForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            project = services.create_project(
                slug=form.cleaned_data["slug"],
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                created_by=request.user,
            )
            messages.success(request, f"Project “{project.name}” created. Add a stream to start.")
            return redirect("project_detail", slug=project.slug)
        return render(request, "projects/project_form.html", {"form": form}, status=400)
    return render(request, "projects/project_form.html", {"form": form})


@require_GET
@login_required
def project_detail(request: AuthedRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request, slug)
    role = viewer_role(request, project)
    manages = role in (Role.PM, Role.REVIEWER)
    streams: list[Stream]
    overview: dict[int, dict[str, Any]] = {}
    tag = request.GET.get("tag", "")
    if manages:
        streams = list(project.streams.all())
        if tag:  # the overview filtered by a purpose tag, "kind:value" (the tags link here)
            streams = [stream for stream in streams if tag in {f"{k}:{v}" for k, v in stream.purpose_tags()}]
        overview = _program_overview(streams)
    else:
        mine = StreamMembership.objects.filter(user=request.user).exclude(status=StreamMembership.Status.REMOVED)
        streams = list(project.streams.filter(pk__in=mine.values("stream_id")))
    member_counts = _stream_member_counts(project) if manages else {}
    context = {
        "project": project,
        "role": role,
        "role_label": _role_label(role),
        "is_pm": role == Role.PM,
        "manages": manages,
        "tag": tag if manages else "",
        "streams": [(stream, member_counts.get(stream.pk, {}), overview.get(stream.pk, {})) for stream in streams],
        # Dynamic streams compare models: the page loads their ratings over time (PMs only).
        "model_streams": [stream for stream in streams if stream.mode == Stream.Mode.DYNAMIC] if manages else [],
        "role_counts": dict(project.memberships.values_list("role").annotate(n=Count("id")).values_list("role", "n"))
        if manages
        else {},
    }
    return render(request, "projects/project_detail.html", context)


def _program_overview(streams: list[Stream]) -> dict[int, dict[str, Any]]:
    """The program overview's figures per stream id, merged from the rooms above
    (``hooks.stream_overview``): annotation's ``progress`` and ``activity``, qc's ``quality``."""
    merged: dict[int, dict[str, Any]] = {stream.pk: {} for stream in streams}
    for per_stream in hooks.stream_overview.call(streams):
        for stream_id, values in per_stream.items():
            merged.setdefault(stream_id, {}).update(values)
    return merged


def _stream_member_counts(project: Project) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {}
    rows = (
        StreamMembership.objects.filter(stream__project=project)
        .values_list("stream_id", "status")
        .annotate(n=Count("id"))
        .values_list("stream_id", "status", "n")
    )
    for stream_id, status, n in rows:
        counts.setdefault(stream_id, {})[status] = n
    return counts


@require_http_methods(["GET", "POST"])
@login_required
def project_edit(request: AuthedRequest, slug: str) -> HttpResponse:
    project = get_project_for_pm(request, slug)
    form = ProjectEditForm(request.POST or None, instance=project)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            messages.success(request, "Project saved.")
            return redirect("project_detail", slug=project.slug)
        return render(request, "projects/project_form.html", {"form": form, "project": project}, status=400)
    return render(request, "projects/project_form.html", {"form": form, "project": project})


@require_POST
@login_required
def markdown_preview(request: AuthedRequest, slug: str) -> HttpResponse:
    """The live preview of guidelines: the same sanitiser as the pages that show them."""
    get_project_for_pm(request, slug)
    form = MarkdownPreviewForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Guidelines are too long to preview.", status=400, content_type="text/plain")
    return render(
        request, "projects/stream_form.html#preview", {"preview": render_markdown(form.cleaned_data["guidelines"])}
    )


# --- Streams ----------------------------------------------------------------------------------
def _stream_form_response(
    request: AuthedRequest, form: StreamForm, project: Project, stream: Stream | None, *, status: int = 200
) -> HttpResponse:
    guidelines = form.data.get("guidelines") if form.is_bound else form.initial.get("guidelines", "")
    context = {
        "form": form,
        "project": project,
        "stream": stream,
        "preview": render_markdown(guidelines or ""),
    }
    return render(request, "projects/stream_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def stream_create(request: AuthedRequest, slug: str) -> HttpResponse:
    project = get_project_for_pm(request, slug)
    preview_url = reverse("markdown_preview", args=[project.slug])
    form = StreamForm(request.POST or None, project=project, preview_url=preview_url)
    if request.method == "POST" and "preview" not in request.POST:
        if form.is_valid():
            stream = services.create_stream(project=project, author=request.user, **form.stream_fields())
            messages.success(request, f"Stream “{stream.name}” created.")
            return redirect("stream_detail", stream_id=stream.pk)
        return _stream_form_response(request, form, project, None, status=400)
    return _stream_form_response(request, form, project, None)


@require_http_methods(["GET", "POST"])
@login_required
def stream_edit(request: AuthedRequest, stream_id: int) -> HttpResponse:
    stream = get_stream_for_pm(request, stream_id)
    preview_url = reverse("markdown_preview", args=[stream.project.slug])
    form = StreamForm(request.POST or None, instance=stream, project=stream.project, preview_url=preview_url)
    if request.method == "POST" and "preview" not in request.POST:
        if form.is_valid():
            services.update_stream(
                stream=stream,
                author=request.user,
                change_note=form.cleaned_data["change_note"],
                **form.stream_fields(),
            )
            messages.success(request, "Stream saved.")
            return redirect("stream_detail", stream_id=stream.pk)
        # The form cleaned values into the instance: show the stored stream, not the bad input.
        stream.refresh_from_db()
        return _stream_form_response(request, form, stream.project, stream, status=400)
    return _stream_form_response(request, form, stream.project, stream)


_CAN_LABEL = {StreamMembership.Status.INVITED, StreamMembership.Status.TESTING, StreamMembership.Status.QUALIFIED}


@require_GET
@login_required
def stream_detail(request: AuthedRequest, stream_id: int) -> HttpResponse:
    stream, role = _get_stream_for_viewer(request, stream_id)
    if role == Role.ANNOTATOR:
        mine = StreamMembership.objects.filter(stream=stream, user=request.user).first()
        # The labeling pages (annotation app) decide what comes next: the test or the queue.
        can_label = stream.status == Stream.Status.ACTIVE and mine is not None and mine.status in _CAN_LABEL
        context: dict[str, Any] = {
            "stream": stream,
            "membership": mine,
            "can_label": can_label,
            "versions": selectors.guideline_versions(stream),
        }
        return render(request, "projects/stream_guidelines.html", context)
    context = {
        "stream": stream,
        "versions": selectors.guideline_versions(stream),
        "project": stream.project,
        "is_pm": role == Role.PM,
        "is_reviewer": role == Role.REVIEWER,
        "member_counts": _stream_member_counts(stream.project).get(stream.pk, {}),
        # annotation: the item ``counts`` and the recent import ``batches``.
        **hooks.stream_page_context.context(stream),
    }
    if request.htmx:
        return render(request, "projects/stream_detail.html#counts", context)
    return render(request, "projects/stream_detail.html", context)


@require_GET
@login_required
def guideline_version(request: AuthedRequest, stream_id: int, number: int) -> HttpResponse:
    """One version of a stream's guidelines: who, when, why, its changes against the version
    before it and its text. For everyone who sees the stream page."""
    stream, role = _get_stream_for_viewer(request, stream_id)
    version = selectors.guideline_version(stream, number)
    if version is None:
        raise Http404("No such version.")
    previous = selectors.guideline_version(stream, number - 1) if number > 1 else None
    context = {
        "stream": stream,
        "version": version,
        "previous": previous,
        "diff": selectors.guideline_diff(previous.text if previous else "", version.text),
        "text": render_markdown(version.text),
        "manages": role in (Role.PM, Role.REVIEWER),
    }
    return render(request, "projects/guideline_version.html", context)


# --- Members ----------------------------------------------------------------------------------
@dataclass
class StreamCell:
    stream: Stream
    membership: StreamMembership | None
    moves: list[tuple[str, str]] = field(default_factory=list)
    change_url: str = ""


@dataclass
class MemberRow:
    membership: Membership
    cells: list[StreamCell]
    error: str = ""


def _member_rows(project: Project, memberships: list[Membership]) -> list[MemberRow]:
    streams = list(project.streams.order_by("-priority", "name"))
    by_key = {
        (sm.user_id, sm.stream_id): sm
        for sm in StreamMembership.objects.filter(stream__project=project, user_id__in=[m.user_id for m in memberships])
    }
    # The "Change" links, reversed once and filled in per cell (a reverse per member and stream
    # was a third of the page's time).
    change_url = reverse("member_stream_status", args=[project.slug, 987654321, 123456789])
    change_url = change_url.replace("987654321", "{m}").replace("123456789", "{s}")
    rows = []
    for membership in memberships:
        cells = [_stream_cell(stream, by_key.get((membership.user_id, stream.pk))) for stream in streams]
        for cell in cells:
            cell.change_url = change_url.format(m=membership.pk, s=cell.stream.pk)
        rows.append(MemberRow(membership, cells))
    return rows


_STATUS_LABELS = dict(StreamMembership.Status.choices)


def _stream_cell(stream: Stream, sm: StreamMembership | None) -> StreamCell:
    """One member in one stream, with the moves the state machine allows from their status."""
    allowed = sm.TRANSITIONS[sm.status] if sm else {StreamMembership.Status.INVITED.value}
    return StreamCell(stream, sm, [(status, label) for status, label in _STATUS_LABELS.items() if status in allowed])


def _get_membership(project: Project, membership_id: int) -> Membership:
    membership = Membership.objects.select_related("user").filter(project=project, pk=membership_id).first()
    if membership is None:
        raise Http404("No such member.")
    return membership


def _member_row_response(
    request: AuthedRequest, project: Project, membership: Membership, *, error: str = ""
) -> HttpResponse:
    """After a member action: the row alone for htmx, else back to the members page."""
    if request.htmx:
        row = _member_rows(project, [membership])[0]
        row.error = error
        return render(
            request, "projects/members.html#member-row", {"project": project, "row": row, "roles": Role.choices}
        )
    if error:
        messages.error(request, error)
    return redirect("members", slug=project.slug)


MEMBERS_PAGE_SIZE = 50


@require_GET
@login_required
def members(request: AuthedRequest, slug: str) -> HttpResponse:
    """The project's members, a page of ``MEMBERS_PAGE_SIZE`` at a time (a program of 500
    annotators in 20 streams is 10,000 status cells), PMs and reviewers first; ``q`` finds people
    by username or email."""
    project = get_project_for_pm(request, slug)
    query = request.GET.get("q", "").strip()[:150]
    rank = Case(When(role=Role.PM, then=0), When(role=Role.REVIEWER, then=1), default=2)
    memberships = project.memberships.select_related("user").order_by(rank, "user__username")
    if query:
        memberships = memberships.filter(Q(user__username__icontains=query) | Q(user__email__icontains=query))
    page = Paginator(memberships, MEMBERS_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "project": project,
        "rows": _member_rows(project, list(page.object_list)),
        "page": page,
        "q": query,
        "query": urlencode({"q": query}) if query else "",
        "roles": Role.choices,
    }
    return render(request, "projects/members.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def member_invite(request: AuthedRequest, slug: str) -> HttpResponse:
    project = get_project_for_pm(request, slug)
    form = InviteForm(request.POST or None, project=project, initial={"streams": project.streams.all()})
    if request.method == "POST":
        if not form.is_valid():
            return render(request, "projects/member_invite.html", {"project": project, "form": form}, status=400)
        results = services.add_members(
            project=project,
            entries=form.cleaned_data["usernames"],
            role=form.cleaned_data["role"],
            streams=form.cleaned_data["streams"],
            create=form.cleaned_data["create"],
            invited_by=request.user,
        )
        # Rendered straight from the POST (no redirect): generated passwords exist only in this
        # response and are never stored in plain text, in the session or in a message.
        context = {"project": project, "results": results, "any_created": any(r.created_user for r in results)}
        return render(request, "projects/member_invite_done.html", context)
    return render(request, "projects/member_invite.html", {"project": project, "form": form})


@require_POST
@login_required
def member_role(request: AuthedRequest, slug: str, membership_id: int) -> HttpResponse:
    project = get_project_for_pm(request, slug)
    membership = _get_membership(project, membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Unknown role.", status=400, content_type="text/plain")
    try:
        membership = services.change_member_role(
            membership=membership, role=form.cleaned_data["role"], actor=request.user
        )
    except services.LastProjectManagerError as exc:
        return _member_row_response(request, project, membership, error=str(exc))
    if not request.htmx:
        messages.success(request, f"{membership.user} is now {Role(membership.role).label.lower()}.")
    return _member_row_response(request, project, membership)


@require_POST
@login_required
def member_remove(request: AuthedRequest, slug: str, membership_id: int) -> HttpResponse:
    project = get_project_for_pm(request, slug)
    membership = _get_membership(project, membership_id)
    try:
        services.remove_member(membership=membership, actor=request.user)
    except services.LastProjectManagerError as exc:
        return _member_row_response(request, project, membership, error=str(exc))
    if request.htmx:
        return HttpResponse("")  # the row is swapped out
    messages.success(request, f"{membership.user} was removed from the project.")
    return redirect("members", slug=project.slug)


@require_http_methods(["GET", "POST"])
@login_required
def member_stream_status(request: AuthedRequest, slug: str, membership_id: int, stream_id: int) -> HttpResponse:
    """Moves one member along one stream's state machine (invite, qualify, pause, remove, ...).
    GET: the form with the moves the state machine allows (the members page links each stream's
    "Change" here; htmx puts the form in place, without JavaScript it is a page of its own), so
    the members page does not carry a form per member and stream."""
    project = get_project_for_pm(request, slug)
    membership = _get_membership(project, membership_id)
    stream = project.streams.filter(pk=stream_id).first()
    if stream is None:
        raise Http404("No such stream.")
    if request.method == "GET":
        sm = StreamMembership.objects.filter(stream=stream, user_id=membership.user_id).first()
        context = {"project": project, "membership": membership, "cell": _stream_cell(stream, sm)}
        template = "projects/member_stream_status.html"
        return render(request, template + "#status-form" if request.htmx else template, context)
    form = StreamStatusForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Unknown status.", status=400, content_type="text/plain")
    status, reason = form.cleaned_data["status"], form.cleaned_data["reason"]
    sm = StreamMembership.objects.filter(stream=stream, user_id=membership.user_id).first()
    error = ""
    if sm is None and status == StreamMembership.Status.INVITED:
        services.invite_to_stream(stream=stream, user=membership.user, actor=request.user, reason=reason)
    elif sm is None:
        error = f"{membership.user} is not in {stream.name} yet: invite them first."
    else:
        try:
            services.transition_stream_membership(
                stream_membership=sm, to_status=status, actor=request.user, reason=reason
            )
        except services.TransitionError as exc:
            error = str(exc)
    if not error and not request.htmx:
        messages.success(request, f"{membership.user} in {stream.name}: {StreamMembership.Status(status).label}.")
    return _member_row_response(request, project, membership, error=error)
