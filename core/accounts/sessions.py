"""A person's signed-in sessions: listed on their sessions page, ended from there, and ended by
themselves after SESSION_IDLE_TIMEOUT_S without a request.

Sessions live in PostgreSQL (django_session); core_usersession says whose each is, from which
browser and address, and when it was last used, so a user can find and end their own. The idle
clock is the session's LAST_SEEN entry, written at most every TOUCH_EVERY_S (a write per request
would cost every page a database write).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.sessions.models import Session
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.deprecation import MiddlewareMixin

from core.accounts.models import User, UserSession
from core.platform.middleware import client_address

LAST_SEEN = "ferry_last_seen"
TOUCH_EVERY_S = 60


@dataclass(frozen=True)
class SessionView:
    id: int  # the registry row's: the page never shows a session key (it is a credential)
    created_at: datetime
    last_seen_at: datetime
    user_agent: str
    address: str
    current: bool


def signed_in(sender: Any, request: HttpRequest, user: User, **_: Any) -> None:
    """user_logged_in: register the (new) session as this user's."""
    key = request.session.session_key
    if key is None:
        request.session.save()
        key = request.session.session_key
    request.session[LAST_SEEN] = int(time.time())
    UserSession.objects.update_or_create(session_key=key, defaults={
        "user": user, "last_seen_at": timezone.now(), "address": client_address(request)[:100],
        "user_agent": str(request.META.get("HTTP_USER_AGENT", ""))[:200]})


def signed_out(sender: Any, request: HttpRequest | None, **_: Any) -> None:
    """user_logged_out: the session is flushed right after; forget it."""
    if request is not None and request.session.session_key:
        UserSession.objects.filter(session_key=request.session.session_key).delete()


def sessions_of(user: User, current_key: str | None) -> list[SessionView]:
    """The user's sessions that are still valid, most recently used first."""
    live = Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")
    rows = UserSession.objects.filter(user=user, session_key__in=live).order_by("-last_seen_at")
    return [SessionView(r.id, r.created_at, r.last_seen_at, r.user_agent, r.address,
                        r.session_key == current_key) for r in rows]


def key_of(user: User, session_id: int) -> str | None:
    """The session key of the user's own session `session_id` (None: no such session of theirs)."""
    return UserSession.objects.filter(user=user, id=session_id).values_list("session_key", flat=True).first()


def end(user: User, session_id: int) -> bool:
    """End one of the user's own sessions (its next request is signed out); False if the user has
    no such session."""
    with transaction.atomic():
        key = key_of(user, session_id)
        if key is None:
            return False
        Session.objects.filter(session_key=key).delete()
        UserSession.objects.filter(session_key=key).delete()
    return True


def end_all(user: User) -> int:
    """End every session of the user (deactivation, a reset second factor); how many ended.
    Runs in the caller's transaction."""
    keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    Session.objects.filter(session_key__in=keys).delete()
    UserSession.objects.filter(user=user).delete()
    return len(keys)


class IdleTimeoutMiddleware(MiddlewareMixin):
    """Signs out a session unused for SESSION_IDLE_TIMEOUT_S; the request then goes on signed out
    (pages send it to the sign-in page, the API answers 401)."""

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        now = int(time.time())
        seen = request.session.get(LAST_SEEN)
        if isinstance(seen, int) and now - seen > settings.SESSION_IDLE_TIMEOUT_S:
            logout(request)
            return None
        if not isinstance(seen, int) or now - seen >= TOUCH_EVERY_S:
            request.session[LAST_SEEN] = now
            UserSession.objects.filter(session_key=request.session.session_key).update(last_seen_at=timezone.now())
        return None
