from __future__ import annotations

from django.urls import path

from projects import endpoint_views, import_views, qualification_views, views

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
    # Imports
    path("streams/<int:stream_id>/import/", import_views.import_upload, name="stream_import"),
    path("streams/<int:stream_id>/imports/<int:batch_id>/", import_views.import_batch, name="import_batch"),
    path(
        "streams/<int:stream_id>/imports/<int:batch_id>/report/",
        import_views.import_report_file,
        name="import_report_file",
    ),
    # Qualification
    path("streams/<int:stream_id>/qualification/", qualification_views.qualification_test, name="qualification_test"),
    path("streams/<int:stream_id>/qualification/questions/", qualification_views.question_add, name="question_add"),
    path(
        "streams/<int:stream_id>/qualification/questions/<int:question_id>/remove/",
        qualification_views.question_remove,
        name="question_remove",
    ),
    path("streams/<int:stream_id>/qualification/import/", qualification_views.question_import, name="question_import"),
    path(
        "streams/<int:stream_id>/qualification/candidates/",
        qualification_views.candidates,
        name="qualification_candidates",
    ),
    path(
        "streams/<int:stream_id>/qualification/candidates/<int:membership_id>/",
        qualification_views.candidate_action,
        name="candidate_action",
    ),
    path("streams/<int:stream_id>/qualification/invite/", qualification_views.invite_ranked, name="invite_ranked"),
    path("account/profile/", qualification_views.profile, name="profile"),
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
    # Model endpoints (dynamic labeling)
    path("projects/<slug:slug>/endpoints/", endpoint_views.endpoints, name="endpoints"),
    path("projects/<slug:slug>/endpoints/new/", endpoint_views.endpoint_create, name="endpoint_create"),
    path("projects/<slug:slug>/endpoints/<int:endpoint_id>/", endpoint_views.endpoint_edit, name="endpoint_edit"),
    path("projects/<slug:slug>/endpoints/<int:endpoint_id>/test/", endpoint_views.endpoint_test, name="endpoint_test"),
]
