"""URLs of the REST API, mounted at /api/."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny

from annotation import api as annotation_api
from exports import api as exports_api
from projects import api as projects_api
from qc import api as qc_api
from qualification import api as qualification_api
from quorum import views

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="api-schema"),
    path("docs/", views.api_docs, name="api-docs"),
    path("projects/", projects_api.ProjectList.as_view(), name="api-projects"),
    path("projects/<slug:slug>/", projects_api.ProjectDetail.as_view(), name="api-project"),
    path("streams/", projects_api.StreamList.as_view(), name="api-streams"),
    path("streams/<int:stream_id>/", projects_api.StreamDetail.as_view(), name="api-stream"),
    path("streams/<int:stream_id>/items/", annotation_api.ItemList.as_view(), name="api-items"),
    path("streams/<int:stream_id>/items/import/", annotation_api.ItemImport.as_view(), name="api-items-import"),
    path("streams/<int:stream_id>/items/<int:item_id>/", annotation_api.ItemDetail.as_view(), name="api-item"),
    path("streams/<int:stream_id>/judgements/", annotation_api.JudgementList.as_view(), name="api-judgements"),
    path("streams/<int:stream_id>/metrics/", qc_api.MetricList.as_view(), name="api-metrics"),
    path(
        "streams/<int:stream_id>/annotators/<int:user_id>/pause/",
        qc_api.AnnotatorPause.as_view(),
        name="api-annotator-pause",
    ),
    path(
        "streams/<int:stream_id>/annotators/<int:user_id>/resume/",
        qc_api.AnnotatorResume.as_view(),
        name="api-annotator-resume",
    ),
    path("streams/<int:stream_id>/qc/recompute/", qc_api.MetricRecompute.as_view(), name="api-qc-recompute"),
    path("streams/<int:stream_id>/gallery/", qc_api.GalleryList.as_view(), name="api-gallery"),
    path("streams/<int:stream_id>/next/", annotation_api.NextItem.as_view(), name="api-next"),
    path("streams/<int:stream_id>/test/", qualification_api.QualificationTestState.as_view(), name="api-test"),
    path(
        "streams/<int:stream_id>/test/start/", qualification_api.QualificationTestStart.as_view(), name="api-test-start"
    ),
    path(
        "streams/<int:stream_id>/test/answer/",
        qualification_api.QualificationTestAnswer.as_view(),
        name="api-test-answer",
    ),
    path("assignments/<int:assignment_id>/judgement/", annotation_api.JudgementCreate.as_view(), name="api-judgement"),
    path("assignments/<int:assignment_id>/skip/", annotation_api.SkipCreate.as_view(), name="api-skip"),
    path("streams/<int:stream_id>/export/", exports_api.StreamExport.as_view(), name="api-stream-export"),
    path("exports/", exports_api.ExportList.as_view(), name="api-exports"),
    path("exports/<int:export_id>/", exports_api.ExportDetail.as_view(), name="api-export"),
    path("exports/<int:export_id>/files/<str:name>", exports_api.ExportFile.as_view(), name="api-export-file"),
    path("tokens/", projects_api.TokenList.as_view(), name="api-tokens"),
    path("tokens/<int:token_id>/", projects_api.TokenDetail.as_view(), name="api-token"),
]
