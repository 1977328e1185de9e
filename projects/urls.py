from __future__ import annotations

from django.urls import path

from projects import views

urlpatterns = [
    path("", views.home, name="home"),
    # Projects
    path("projects/new/", views.project_create, name="project_create"),
    path("projects/<slug:slug>/", views.project_detail, name="project_detail"),
    path("projects/<slug:slug>/edit/", views.project_edit, name="project_edit"),
    path("projects/<slug:slug>/preview/", views.markdown_preview, name="markdown_preview"),
    # Streams
    path("projects/<slug:slug>/streams/new/", views.stream_create, name="stream_create"),
    path("streams/<int:stream_id>/", views.stream_detail, name="stream_detail"),
    path("streams/<int:stream_id>/edit/", views.stream_edit, name="stream_edit"),
    path("streams/<int:stream_id>/guidelines/<int:number>/", views.guideline_version, name="guideline_version"),
    # Members
    path("projects/<slug:slug>/members/", views.members, name="members"),
    path("projects/<slug:slug>/members/invite/", views.member_invite, name="member_invite"),
    path("projects/<slug:slug>/members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path("projects/<slug:slug>/members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path(
        "projects/<slug:slug>/members/<int:membership_id>/streams/<int:stream_id>/",
        views.member_stream_status,
        name="member_stream_status",
    ),
]
