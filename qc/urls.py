from __future__ import annotations

from django.urls import path

from qc import calibration_views, gallery_views, model_views, peer_review_views, views

app_name = "qc"

urlpatterns = [
    # The navigation's Review and Quality entries
    path("review/", views.review_home, name="review_home"),
    path("quality/", views.quality_home, name="quality_home"),
    # QC (PMs)
    path("streams/<int:stream_id>/qc/", views.stream_qc, name="stream_qc"),
    path("streams/<int:stream_id>/qc/recompute/", views.stream_recompute, name="stream_recompute"),
    path("streams/<int:stream_id>/qc/annotators/<int:user_id>/", views.annotator_qc, name="annotator_qc"),
    path(
        "streams/<int:stream_id>/qc/annotators/<int:user_id>/history/",
        views.annotator_history,
        name="annotator_history",
    ),
    path("streams/<int:stream_id>/qc/annotators/<int:user_id>/pause/", views.annotator_pause, name="annotator_pause"),
    path(
        "streams/<int:stream_id>/qc/annotators/<int:user_id>/resume/", views.annotator_resume, name="annotator_resume"
    ),
    path(
        "streams/<int:stream_id>/qc/annotators/<int:user_id>/review/",
        views.annotator_send_review,
        name="annotator_send_review",
    ),
    path(
        "streams/<int:stream_id>/qc/annotators/<int:user_id>/peer-review/start/",
        peer_review_views.peer_review_start,
        name="peer_review_start",
    ),
    path(
        "streams/<int:stream_id>/qc/annotators/<int:user_id>/peer-review/stop/",
        peer_review_views.peer_review_stop,
        name="peer_review_stop",
    ),
    path("streams/<int:stream_id>/qc/alerts/<int:alert_id>/close/", views.alert_close, name="alert_close"),
    # Golden set (PMs)
    path("streams/<int:stream_id>/golden/", views.golden_set, name="golden_set"),
    path("streams/<int:stream_id>/golden/items/<int:item_id>/", views.golden_item, name="golden_item"),
    path("streams/<int:stream_id>/golden/from-prior/", views.golden_from_prior, name="golden_from_prior"),
    # Review queue (reviewers, PMs)
    path("streams/<int:stream_id>/review/", views.review_queue, name="review_queue"),
    path("streams/<int:stream_id>/review/<int:task_id>/", views.review_submit, name="review_submit"),
    # The example gallery (the stream's annotators see it; reviewers and PMs mark examples)
    path("streams/<int:stream_id>/gallery/", gallery_views.gallery_page, name="gallery"),
    path(
        "streams/<int:stream_id>/gallery/judgements/<int:judgement_id>/",
        gallery_views.gallery_mark,
        name="gallery_mark",
    ),
    path(
        "streams/<int:stream_id>/gallery/<int:example_id>/remove/",
        gallery_views.gallery_remove,
        name="gallery_remove",
    ),
    # Calibration rounds (PMs open, close and promote; the stream's qualified annotators take them)
    path("streams/<int:stream_id>/calibration/", calibration_views.calibration_rounds, name="calibration_rounds"),
    path(
        "streams/<int:stream_id>/calibration/<int:round_id>/",
        calibration_views.calibration_round,
        name="calibration_round",
    ),
    path(
        "streams/<int:stream_id>/calibration/<int:round_id>/take/",
        calibration_views.calibration_take,
        name="calibration_take",
    ),
    path(
        "streams/<int:stream_id>/calibration/<int:round_id>/close/",
        calibration_views.calibration_close,
        name="calibration_close",
    ),
    path(
        "streams/<int:stream_id>/calibration/<int:round_id>/items/<int:round_item_id>/expected/",
        calibration_views.calibration_expected,
        name="calibration_expected",
    ),
    path(
        "streams/<int:stream_id>/calibration/<int:round_id>/items/<int:round_item_id>/promote/",
        calibration_views.calibration_promote,
        name="calibration_promote",
    ),
    # The annotator's own figures
    path("streams/<int:stream_id>/my-quality/", views.my_quality, name="my_quality"),
    # Model comparison of a dynamic stream (PMs)
    path("streams/<int:stream_id>/models/", model_views.stream_models, name="stream_models"),
    path("streams/<int:stream_id>/models/history/", model_views.stream_model_history, name="stream_model_history"),
]
