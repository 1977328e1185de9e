from __future__ import annotations

from django.urls import path

from annotation import views

app_name = "annotation"

urlpatterns = [
    path("", views.index, name="index"),
    path("streams/<int:stream_id>/", views.stream_home, name="stream_home"),
    path("streams/<int:stream_id>/work/", views.work, name="work"),
    path("assignments/<int:assignment_id>/submit/", views.submit, name="submit"),
    path("assignments/<int:assignment_id>/skip/", views.skip, name="skip"),
    path("assignments/<int:assignment_id>/heartbeat/", views.heartbeat, name="heartbeat"),
]
