"""REST API for machine clients: projects, streams, items, judgements, metrics, tokens.

Every lookup goes through ``projects.access``: an outsider gets 404, a member below the needed
role 403. Annotators may list projects and streams they belong to, nothing more: items carry
golden answers and judgements are other people's work, so both need a reviewer or a PM.
Filtering and ordering accept only the fields listed on each view.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects import access, services
from projects.forms import StreamForm, bound_stream_form
from projects.models import ApiToken, Membership, Project, Role, Stream, StreamMembership
from projects.serializers import (
    STREAM_READ_ONLY,
    ApiTokenSerializer,
    NewApiTokenSerializer,
    ProjectSerializer,
    StreamSerializer,
    StreamSettingsSerializer,
)


def visible_projects(user: Any) -> QuerySet[Project]:
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)


def visible_streams(user: Any) -> QuerySet[Stream]:
    """The streams a user may see through the API, as on the pages: every stream of the projects
    where they are a reviewer or a PM; for an annotator, the streams they are invited to and not
    removed from; every stream for staff."""
    if user.is_staff:
        return Stream.objects.all()
    senior = Membership.objects.filter(user=user, role__in=[Role.PM, Role.REVIEWER]).values("project_id")
    member = Membership.objects.filter(user=user).values("project_id")
    invited = (
        StreamMembership.objects.filter(user=user).exclude(status=StreamMembership.Status.REMOVED).values("stream_id")
    )
    return Stream.objects.filter(Q(project_id__in=senior) | Q(pk__in=invited, project_id__in=member))


def stream_for(request: Request, stream_id: int, role: str = Role.ANNOTATOR) -> Stream:
    # DRF's Request proxies the HttpRequest attributes the access helpers read.
    return access.get_stream_for_user(request, stream_id, role=role)


def parse_query(request: Request, serializer_class: type[serializers.Serializer[Any]]) -> dict[str, Any]:
    """Validated query-string filters: a bad value is a 400, never a 500."""
    query = serializer_class(data=request.query_params.dict())  # a dict: absent booleans stay absent
    query.is_valid(raise_exception=True)
    return {k: v for k, v in query.validated_data.items() if v not in (None, "")}


class ProjectList(generics.ListAPIView[Project]):
    """Projects you are a member of."""

    serializer_class = ProjectSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["name", "created_at", "id"]
    ordering = ["name"]

    def get_queryset(self) -> QuerySet[Project]:
        return visible_projects(self.request.user).distinct()


class ProjectDetail(generics.RetrieveAPIView[Project]):
    serializer_class = ProjectSerializer

    def get_object(self) -> Project:
        return access.get_project_for_user(self.request, self.kwargs["slug"])


class _StreamQuery(serializers.Serializer[Any]):
    project = serializers.SlugField(required=False, help_text="Project slug.")
    status = serializers.ChoiceField(choices=Stream.Status.choices, required=False)


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter("project", OpenApiTypes.STR, description="Project slug."),
            OpenApiParameter("status", OpenApiTypes.STR, enum=Stream.Status.values),
        ]
    )
)
class StreamList(generics.ListAPIView[Stream]):
    """Streams you may see: all of your projects' streams as a reviewer or PM; as an annotator,
    the streams you are invited to (and not removed from)."""

    serializer_class = StreamSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["id", "name", "priority", "created_at"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[Stream]:
        filters = parse_query(self.request, _StreamQuery)
        qs = visible_streams(self.request.user).select_related("project")
        if "project" in filters:
            qs = qs.filter(project__slug=filters["project"])
        if "status" in filters:
            qs = qs.filter(status=filters["status"])
        return qs


_UPDATED_AT = serializers.DateTimeField()


def _form_errors(form: StreamForm) -> dict[str, list[str]]:
    return {
        ("non_field_errors" if name == "__all__" else name): [str(message) for message in messages]
        for name, messages in form.errors.items()
    }


@extend_schema_view(
    get=extend_schema(
        responses=StreamSettingsSerializer,
        description="The stream. Reviewers and PMs get every setting of the stream form; annotators "
        "get the fields of the stream list (no QC thresholds).",
    ),
    patch=extend_schema(
        request=StreamSettingsSerializer,
        responses={200: StreamSettingsSerializer},
        description="Changes any settings of the stream form (PMs): the same validation as the stream "
        "page (400 with field errors, nothing saved), the same service (an overlap change re-opens or "
        "closes items). Fields not sent keep their values. A change of ``guidelines`` makes the next "
        "guideline version; ``change_note`` (not a setting, at most 500 characters) is kept with it.",
    ),
)
class StreamDetail(APIView):
    http_method_names = ["get", "patch", "head", "options"]

    def get(self, request: Request, stream_id: int) -> Response:
        # One lookup: the streams this user may see (an annotator not invited to it: as if it did
        # not exist), with the same 404 as every other stream lookup.
        stream = visible_streams(request.user).select_related("project").filter(pk=stream_id).first()
        if stream is None:
            raise Http404("No such stream.")
        if access.viewer_role(request, stream.project) in (Role.PM, Role.REVIEWER):
            return Response(StreamSettingsSerializer(stream).data)
        return Response(
            {**StreamSerializer(stream).data, "updated_at": _UPDATED_AT.to_representation(stream.updated_at)}
        )

    def patch(self, request: Request, stream_id: int) -> Response:
        stream = stream_for(request, stream_id, Role.PM)
        if not isinstance(request.data, Mapping):
            raise serializers.ValidationError({"non_field_errors": ["Send a JSON object of settings."]})
        changes = dict(request.data.items())
        unknown = {
            name: ["Read-only." if name in STREAM_READ_ONLY else "Not a stream setting."]
            for name in changes
            if name not in StreamForm.Meta.fields and name != "change_note"
        }
        if unknown:
            raise serializers.ValidationError(unknown)
        form = bound_stream_form(project=stream.project, stream=stream, changes=changes)
        if not form.is_valid():
            return Response(_form_errors(form), status=status.HTTP_400_BAD_REQUEST)
        cleaned = form.stream_fields()
        services.update_stream(
            stream=stream,
            author=request.user,
            change_note=form.cleaned_data["change_note"],
            **{name: cleaned[name] for name in changes if name != "change_note"},
        )
        return Response(StreamSettingsSerializer(stream).data)


class TokenList(generics.ListCreateAPIView[ApiToken]):
    """Your API tokens. Creating one answers with its key, once; only a hash is stored. At most
    ``QUORUM_MAX_API_TOKENS_PER_USER`` active (not revoked) tokens per user: beyond, a 400."""

    serializer_class = ApiTokenSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["created_at", "id"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> QuerySet[ApiToken]:
        return ApiToken.objects.filter(user=cast(User, self.request.user))  # IsAuthenticated

    @extend_schema(request=ApiTokenSerializer, responses={201: NewApiTokenSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = ApiTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        limit = settings.QUORUM_MAX_API_TOKENS_PER_USER
        with transaction.atomic():
            # The user's row is the lock: parallel requests cannot both pass the count.
            User.objects.select_for_update().filter(pk=cast(User, request.user).pk).first()
            if ApiToken.objects.filter(user=cast(User, request.user), revoked_at__isnull=True).count() >= limit:
                return Response(
                    {"detail": f"You already have {limit} active API tokens, the most allowed; revoke one first."},
                    status=status.HTTP_400_BAD_REQUEST,
                )
            token, key = ApiToken.generate(user=request.user, name=serializer.validated_data.get("name", ""))
        token.key = key  # type: ignore[attr-defined]  # shown once, never stored
        return Response(NewApiTokenSerializer(token).data, status=status.HTTP_201_CREATED)


class TokenDetail(generics.RetrieveDestroyAPIView[ApiToken]):
    """DELETE revokes the token (it stays listed, marked revoked)."""

    serializer_class = ApiTokenSerializer
    lookup_url_kwarg = "token_id"

    def get_queryset(self) -> QuerySet[ApiToken]:
        return ApiToken.objects.filter(user=cast(User, self.request.user))  # IsAuthenticated

    def perform_destroy(self, instance: ApiToken) -> None:
        if instance.revoked_at is None:
            ApiToken.objects.filter(pk=instance.pk).update(revoked_at=timezone.now())
