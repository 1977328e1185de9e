from __future__ import annotations

from django.urls import path

from annotation import dynamic_views, qualification_views, views

app_name = "annotation"

urlpatterns = [
    path("", views.index, name="index"),
    path("streams/<int:stream_id>/", views.stream_home, name="stream_home"),
    path("streams/<int:stream_id>/work/", views.work, name="work"),
    path("streams/<int:stream_id>/test/", qualification_views.test_page, name="test"),
    path("streams/<int:stream_id>/test/start/", qualification_views.test_start, name="test_start"),
    path("streams/<int:stream_id>/test/answer/", qualification_views.test_answer, name="test_answer"),
    path("streams/<int:stream_id>/test/attempts/<int:number>/", qualification_views.test_result, name="test_result"),
    path("assignments/<int:assignment_id>/submit/", views.submit, name="submit"),
    path("assignments/<int:assignment_id>/skip/", views.skip, name="skip"),
    path("assignments/<int:assignment_id>/heartbeat/", views.heartbeat, name="heartbeat"),
    # Dynamic labeling: chat with live models, judge every turn.
    path("streams/<int:stream_id>/chat/", dynamic_views.converse, name="converse"),
    path("streams/<int:stream_id>/chat/send/", dynamic_views.send, name="converse_send"),
    path("turns/<int:turn_id>/poll/", dynamic_views.turn_poll, name="turn_poll"),
    path("turns/<int:turn_id>/judge/", dynamic_views.judge, name="turn_judge"),
    path("turns/<int:turn_id>/retry/", dynamic_views.retry, name="turn_retry"),
    path("conversations/<int:conversation_id>/end/", dynamic_views.end, name="conversation_end"),
]
