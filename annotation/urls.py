"""The annotation room's pages: the annotator's labeling pages (under /annotate/) and the PM's
import pages."""

from __future__ import annotations

from django.urls import path

from annotation import browse_views, import_views, views

app_name = "annotation"

urlpatterns = [
    path("annotate/", views.index, name="index"),
    path("annotate/streams/<int:stream_id>/", views.stream_home, name="stream_home"),
    path("annotate/streams/<int:stream_id>/work/", views.work, name="work"),
    path(
        "annotate/streams/<int:stream_id>/guidelines/acknowledge/",
        views.guidelines_acknowledge,
        name="guidelines_acknowledge",
    ),
    path("annotate/assignments/<int:assignment_id>/submit/", views.submit, name="submit"),
    path("annotate/assignments/<int:assignment_id>/skip/", views.skip, name="skip"),
    path("annotate/assignments/<int:assignment_id>/heartbeat/", views.heartbeat, name="heartbeat"),
    path("streams/<int:stream_id>/import/", import_views.import_upload, name="stream_import"),
    path("streams/<int:stream_id>/items/", browse_views.item_browser, name="item_browser"),
    path("streams/<int:stream_id>/items/<int:item_id>/", browse_views.item_detail, name="item_detail"),
    path("streams/<int:stream_id>/imports/<int:batch_id>/", import_views.import_batch, name="import_batch"),
    path(
        "streams/<int:stream_id>/imports/<int:batch_id>/report/",
        import_views.import_report_file,
        name="import_report_file",
    ),
]
