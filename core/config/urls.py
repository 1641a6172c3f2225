from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from core.config.api import api
from core.web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(template_name="accounts/login.html"), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("dispatch/", include("core.dispatch.urls")),
    path("learning/", include("core.learning.urls")),
    path("ops/", include("core.ops.urls")),
    path("audit/", include("core.audit.urls")),
    # /live/stream is served beside Django (core/config/asgi.py, core/live/stream.py).
]
