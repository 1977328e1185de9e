"""The judging room's pages: a stream's model judge (PMs)."""

from __future__ import annotations

from django.urls import path

from judging import views

app_name = "judging"

urlpatterns = [
    path("streams/<int:stream_id>/judge/", views.judge, name="judge"),
    path("streams/<int:stream_id>/judge/run/", views.run, name="judge_run"),
    path("streams/<int:stream_id>/judge/stop/", views.stop, name="judge_stop"),
    path("streams/<int:stream_id>/judge/retry/", views.retry, name="judge_retry"),
]
