"""The qualification room's pages: the PM's test and candidate pages, the annotator's test pages
(under /annotate/), and every user's profile."""

from __future__ import annotations

from django.urls import path

from qualification import test_views, views

app_name = "qualification"

urlpatterns = [
    path("annotate/streams/<int:stream_id>/test/", test_views.test_page, name="test"),
    path("annotate/streams/<int:stream_id>/test/start/", test_views.test_start, name="test_start"),
    path("annotate/streams/<int:stream_id>/test/answer/", test_views.test_answer, name="test_answer"),
    path("annotate/streams/<int:stream_id>/test/attempts/<int:number>/", test_views.test_result, name="test_result"),
    path("streams/<int:stream_id>/qualification/", views.qualification_test, name="qualification_test"),
    path("streams/<int:stream_id>/qualification/questions/", views.question_add, name="question_add"),
    path(
        "streams/<int:stream_id>/qualification/questions/<int:question_id>/remove/",
        views.question_remove,
        name="question_remove",
    ),
    path("streams/<int:stream_id>/qualification/import/", views.question_import, name="question_import"),
    path("streams/<int:stream_id>/qualification/candidates/", views.candidates, name="qualification_candidates"),
    path(
        "streams/<int:stream_id>/qualification/candidates/<int:membership_id>/",
        views.candidate_action,
        name="candidate_action",
    ),
    path("streams/<int:stream_id>/qualification/invite/", views.invite_ranked, name="invite_ranked"),
    path("account/profile/", views.profile, name="profile"),
]
