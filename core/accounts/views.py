"""The sessions page: a person sees where they are signed in and ends any of those sessions."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.accounts import sessions
from core.accounts.models import User


@require_GET
@login_required
def session_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    return render(request, "accounts/sessions.html", {
        "sessions": sessions.sessions_of(user, request.session.session_key),
        "idle_minutes": settings.SESSION_IDLE_TIMEOUT_S // 60})


@require_POST
@login_required
def end_session(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    raw = str(request.POST.get("session", ""))
    session_id = int(raw) if raw.isdigit() and len(raw) < 19 else None
    if session_id is not None and sessions.key_of(user, session_id) == request.session.session_key:
        logout(request)
        return redirect("login")
    if session_id is None or not sessions.end(user, session_id):
        messages.error(request, "No such session of yours: nothing was ended.")
    else:
        messages.success(request, "Session ended: that browser is signed out.")
    return redirect("sessions")
