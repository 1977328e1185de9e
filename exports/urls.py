from __future__ import annotations

from django.urls import path

from exports import views

app_name = "exports"

urlpatterns = [
    path("projects/<slug:slug>/exports/", views.exports, name="exports"),
    path("projects/<slug:slug>/exports/<int:export_id>/", views.export_detail, name="export_detail"),
    path("projects/<slug:slug>/exports/<int:export_id>/files/<str:name>", views.export_file, name="export_file"),
]
