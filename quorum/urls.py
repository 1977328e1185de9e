"""The site's URLs: each room's pages, composed here (the only module besides the API's that knows
every room). Each room but the ground floor has its own namespace; the annotator's pages of every
room live under /annotate/."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from projects.views import LoginView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("account/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("api/", include("quorum.api_urls")),
    path("", include("annotation.urls")),
    path("", include("qualification.urls")),
    path("", include("dynamic.urls")),
    path("", include("judging.urls")),
    path("", include("qc.urls")),
    path("", include("exports.urls")),
    path("", include("projects.urls")),
]
