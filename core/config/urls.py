from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from core.accounts import views as account_views
from core.config.api import api
from core.people.urls import account_urlpatterns
from core.web import views
from core.web.login import ThrottledLoginView

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/sessions/", account_views.session_list, name="sessions"),
    path("accounts/sessions/end/", account_views.end_session, name="end_session"),
    path("accounts/", include(account_urlpatterns)),
    # The admin's own sign-in form would be a way around the throttle: it is the same page.
    path("admin/login/", ThrottledLoginView.as_view(), name="admin_login"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("dispatch/", include("core.dispatch.urls")),
    path("learning/", include("core.learning.urls")),
    path("ops/", include("core.ops.urls")),
    path("audit/", include("core.audit.urls")),
    path("people/", include("core.people.urls")),
    # /live/stream is served beside Django (core/config/asgi.py, core/live/stream.py).
]
