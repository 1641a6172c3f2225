"""Pages of the project shell: home and health."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django_redis import get_redis_connection

from core.web.sections import sections_for


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The start page after sign-in: the user's agency, roles, and a link to each of their sections."""
    user = request.user
    sections = [{"label": s.label, "summary": s.summary, "url": reverse(s.url_name)} for s in sections_for(user)]
    return render(request, "web/home.html", {"roles": sorted(user.roles), "sections": sections})  # type: ignore[union-attr]


def _check_postgres() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_redis() -> str:
    get_redis_connection("default").ping()
    return "ok"


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness of the web process and reachability of its backing services (200 or 503)."""
    checks: dict[str, str] = {}
    for name, check in (("postgres", _check_postgres), ("redis", _check_redis)):
        try:
            checks[name] = check()
        except Exception as exc:  # any failure is reported, never raised
            checks[name] = f"error: {type(exc).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503)
