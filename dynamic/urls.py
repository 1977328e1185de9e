"""The dynamic room's pages: the PM's model endpoints and the annotator's live chat (under /annotate/)."""

from __future__ import annotations

from django.urls import path

from dynamic import endpoint_views, eval_views, views

app_name = "dynamic"

urlpatterns = [
    path("annotate/streams/<int:stream_id>/chat/", views.converse, name="converse"),
    path("annotate/streams/<int:stream_id>/chat/send/", views.send, name="converse_send"),
    path("annotate/turns/<int:turn_id>/poll/", views.turn_poll, name="turn_poll"),
    path("annotate/turns/<int:turn_id>/judge/", views.judge, name="turn_judge"),
    path("annotate/turns/<int:turn_id>/retry/", views.retry, name="turn_retry"),
    path("annotate/conversations/<int:conversation_id>/end/", views.end, name="conversation_end"),
    path("projects/<slug:slug>/streams/from-eval/", eval_views.streams_from_eval, name="streams_from_eval"),
    path("projects/<slug:slug>/endpoints/", endpoint_views.endpoints, name="endpoints"),
    path("projects/<slug:slug>/endpoints/new/", endpoint_views.endpoint_create, name="endpoint_create"),
    path("projects/<slug:slug>/endpoints/<int:endpoint_id>/", endpoint_views.endpoint_edit, name="endpoint_edit"),
    path("projects/<slug:slug>/endpoints/<int:endpoint_id>/test/", endpoint_views.endpoint_test, name="endpoint_test"),
]
