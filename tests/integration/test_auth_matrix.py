"""Who may use what: every endpoint x every role x own or other agency -> the expected status.

The endpoints are read from the URL configuration (django.urls.get_resolver(), the JSON
API's routes included), so a new page or operation without a row in the tables below fails
`test_every_endpoint_has_a_declared_expectation`. The tables restate the roles the code
declares (RoleAuth.roles for the API, view.ferry_roles for pages) and the test holds one to
the other: a change of who may do what shows up in review as a change of this file.

Then each endpoint is called, with real objects of both agencies in its path
(tests/integration/agencies.py), by someone signed out, by a user of every role of the
object's agency, and by the admitted roles of the other agency:

- signed out: 401 from the API, the sign-in page (302) for pages;
- signed in without an admitted role: 403 (auditors therefore never write: no write
  endpoint admits them); an admitted role's write without the CSRF token: 403;
- an admitted role, naming the other agency's object: 404, as if it did not exist;
- an admitted role, naming its own agency's objects: what the endpoint does (2xx, a
  redirect for form posts) or a refusal of the request itself (400, 409, 422), never
  401/403/404 or 5xx, unless OWNER_ONLY says the object is another user's.

The live stream is served beside Django's URLs (core/config/asgi.py); who may open it is
tested on its own, against committed sessions (tests/integration/live/test_stream_access.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.core.signals import request_finished
from django.db import close_old_connections
from django.http import HttpResponseBase
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from core.accounts.models import User
from core.dispatch.models import Visit
from core.learning.digests import unsubscribe_token
from core.people.invitations import token_of
from core.people.models import Invitation
from core.platform.roles import Role
from tests.helpers.agencies import (  # noqa: F401  # the agencies and sessions fixtures
    DAY,
    HEAL_NAME,
    Agencies,
    Agency,
    agencies_fixture,
    api_operations,
    sessions_fixture,
)
from tests.helpers.web import sign_in

D, R, L, A, OP, AA = Role.DISPATCHER, Role.REVIEWER, Role.LEARNER, Role.AUDITOR, Role.OPS, Role.AGENCY_ADMIN
OV = Role.OPS_VIEWER
ANYONE = frozenset(Role)

# --- the declared expectations -------------------------------------------------------------------

# The JSON API: "METHOD /route" -> the roles admitted (each operation's RoleAuth).
API: dict[str, frozenset[Role]] = {
    "GET /api/me": ANYONE,
    "GET /api/dispatch/clinicians": frozenset({D, A}),
    "POST /api/dispatch/clinicians": frozenset({D}),
    "GET /api/dispatch/clinicians/<clinician_id>": frozenset({D, A}),
    "PATCH /api/dispatch/clinicians/<clinician_id>": frozenset({D}),
    "DELETE /api/dispatch/clinicians/<clinician_id>": frozenset({D}),
    "POST /api/dispatch/clinicians/<clinician_id>/sick": frozenset({D}),
    "GET /api/dispatch/visits": frozenset({D, A}),
    "POST /api/dispatch/visits": frozenset({D}),
    "GET /api/dispatch/visits/<visit_id>": frozenset({D, A}),
    "PATCH /api/dispatch/visits/<visit_id>": frozenset({D}),
    "DELETE /api/dispatch/visits/<visit_id>": frozenset({D}),
    "POST /api/dispatch/visits/<visit_id>/running-over": frozenset({D}),
    "POST /api/dispatch/optimize-day": frozenset({D}),
    "GET /api/dispatch/jobs/<job_id>": frozenset({D, A}),
    "GET /api/dispatch/route-plans": frozenset({D, A}),
    "GET /api/dispatch/route-plans/<plan_id>": frozenset({D, A}),
    "GET /api/dispatch/schedules": frozenset({D, A}),
    "POST /api/dispatch/schedules": frozenset({D}),
    "GET /api/dispatch/schedules/<schedule_id>": frozenset({D, A}),
    "PATCH /api/dispatch/schedules/<schedule_id>": frozenset({D}),
    "DELETE /api/dispatch/schedules/<schedule_id>": frozenset({D}),
    "POST /api/dispatch/schedules/<schedule_id>/pause": frozenset({D}),
    "POST /api/dispatch/schedules/<schedule_id>/resume": frozenset({D}),
    "GET /api/dispatch/schedules/<schedule_id>/runs": frozenset({D, A}),
    "GET /api/problems": frozenset({L, R}),
    "POST /api/problems": frozenset({R}),
    "GET /api/lessons": frozenset({L, R}),
    "POST /api/lessons": frozenset({R}),
    "GET /api/problems/<problem_id>": frozenset({L, R}),
    "GET /api/lessons/<lesson_id>": frozenset({L, R}),
    "GET /api/search": frozenset({L, R}),
    "GET /api/contents": frozenset({R}),
    "GET /api/contents/<content_id>": frozenset({R}),
    "POST /api/contents/<content_id>/versions": frozenset({R}),
    "POST /api/contents/<content_id>/unpublish": frozenset({R}),
    "POST /api/contents/<content_id>/rollback": frozenset({R}),
    "GET /api/review-queue": frozenset({R}),
    "GET /api/versions/<version_id>": frozenset({R}),
    "POST /api/versions/<version_id>/submit": frozenset({R}),
    "POST /api/versions/<version_id>/review": frozenset({R}),
    "POST /api/versions/<version_id>/publish": frozenset({R}),
    "POST /api/reviews/<review_id>/replies": frozenset({R}),
    "POST /api/problems/<problem_id>/submissions": frozenset({L}),
    "GET /api/problems/<problem_id>/submissions": frozenset({L}),
    "GET /api/submissions/<submission_id>": frozenset({L, R}),
    "GET /api/notifications": frozenset({L, R}),
    "GET /api/similarity-flags": frozenset({R}),
    "POST /api/images": frozenset({R}),
    "POST /api/exports": frozenset({R}),
    "GET /api/exports": frozenset({R}),
    "GET /api/exports/<bundle_id>": frozenset({R}),
    "GET /api/exports/<bundle_id>/file": frozenset({R}),
    "GET /api/images": frozenset({R}),
    "GET /api/images/<image_id>": frozenset({L, R}),
    "GET /api/similarity-flags/<flag_id>": frozenset({R}),
    "POST /api/similarity-flags/<flag_id>/decision": frozenset({R}),
    # Spaced review (core/learning/review_api.py): learners' own.
    "POST /api/lessons/<lesson_id>/done": frozenset({L}),
    "GET /api/review/due": frozenset({L}),
    "POST /api/review/cards/<card_id>/answers": frozenset({L}),
    "POST /api/notifications/<notification_id>/read": frozenset({L, R}),
    "POST /api/ops/heal/<name>": frozenset({OP}),
    "GET /api/ops/heal-runs": frozenset({OP, OV, A}),
    "GET /api/ops/heal-runs/<run_id>": frozenset({OP, OV, A}),
    "GET /api/ops/dead-letters/preview": frozenset({OP, OV, A}),
    "POST /api/ops/dead-letters/bulk": frozenset({OP}),
    "GET /api/ops/bulk-actions": frozenset({OP, OV, A}),
    "GET /api/ops/bulk-actions/<bulk_id>": frozenset({OP, OV, A}),
    "GET /api/audit/events": frozenset({A, OP, OV}),
    "GET /api/audit/events/<event_id>": frozenset({A, OP, OV}),
    "GET /api/audit/events/count": frozenset({A, OP, OV}),
    "POST /api/audit/exports": frozenset({A, OP}),
    "GET /api/audit/exports": frozenset({A, OP, OV}),
    "GET /api/audit/exports/<export_id>": frozenset({A, OP, OV}),
    "GET /api/audit/exports/<export_id>/file": frozenset({A, OP, OV}),
    "GET /api/audit/export.csv": frozenset({A, OP, OV}),
    "GET /api/audit/export.jsonl": frozenset({A, OP, OV}),
    "GET /api/audit/reads": frozenset({A}),
    "GET /api/audit/reads/export.csv": frozenset({A}),
    "GET /api/audit/reads/export.jsonl": frozenset({A}),
    "GET /api/audit/reads/<read_id>": frozenset({A}),
}

# Pages: "METHOD /route" -> the roles admitted (the view's ferry_roles, from role_required).
PAGES: dict[str, frozenset[Role]] = {
    "GET /dispatch/": frozenset({D, A}),
    "GET /dispatch/day/<str:day>/": frozenset({D, A}),
    "GET /dispatch/day/<str:day>/board": frozenset({D, A}),
    "POST /dispatch/day/<str:day>/optimize": frozenset({D}),
    "POST /dispatch/day/<str:day>/clinicians/<int:clinician_id>/sick": frozenset({D}),
    "GET /dispatch/visits/new": frozenset({D}),
    "POST /dispatch/visits/new": frozenset({D}),
    "GET /dispatch/visits/<int:visit_id>/edit": frozenset({D}),
    "POST /dispatch/visits/<int:visit_id>/edit": frozenset({D}),
    "POST /dispatch/visits/<int:visit_id>/running-over": frozenset({D}),
    "GET /dispatch/clinicians/new": frozenset({D}),
    "POST /dispatch/clinicians/new": frozenset({D}),
    "GET /dispatch/clinicians/<int:clinician_id>/edit": frozenset({D}),
    "POST /dispatch/clinicians/<int:clinician_id>/edit": frozenset({D}),
    "GET /dispatch/schedules/": frozenset({D, A}),
    "POST /dispatch/schedules/new": frozenset({D}),
    "GET /dispatch/schedules/<int:schedule_id>/": frozenset({D, A}),
    "POST /dispatch/schedules/<int:schedule_id>/edit": frozenset({D}),
    "POST /dispatch/schedules/<int:schedule_id>/<str:change>": frozenset({D}),
    "GET /learning/": frozenset({L, R}),
    "GET /learning/search/": frozenset({L, R}),
    "GET /learning/problems/<int:problem_id>/": frozenset({L, R}),
    "GET /learning/lessons/<int:lesson_id>/": frozenset({L, R}),
    "GET /learning/review/": frozenset({R}),
    "GET /learning/review/new/": frozenset({R}),
    "POST /learning/review/new/": frozenset({R}),
    "GET /learning/review/contents/<int:content_id>/new-version/": frozenset({R}),
    "POST /learning/review/contents/<int:content_id>/new-version/": frozenset({R}),
    "POST /learning/review/contents/<int:content_id>/unpublish/": frozenset({R}),
    "POST /learning/review/contents/<int:content_id>/rollback/": frozenset({R}),
    "GET /learning/review/versions/<int:version_id>/": frozenset({R}),
    "POST /learning/review/versions/<int:version_id>/submit/": frozenset({R}),
    "POST /learning/review/versions/<int:version_id>/review/": frozenset({R}),
    "POST /learning/review/versions/<int:version_id>/publish/": frozenset({R}),
    "POST /learning/review/reviews/<int:review_id>/reply/": frozenset({R}),
    "GET /learning/review/similarity/": frozenset({R}),
    "GET /learning/review/images/": frozenset({R}),
    "GET /learning/review/exports/": frozenset({R}),
    "POST /learning/review/exports/": frozenset({R}),
    "GET /learning/review/exports/<int:bundle_id>/file": frozenset({R}),
    "POST /learning/review/images/": frozenset({R}),
    "GET /learning/images/<int:image_id>/": frozenset({L, R}),
    "GET /learning/images/<int:image_id>/<str:variant>": frozenset({L, R}),
    "GET /learning/review/similarity/<int:flag_id>/": frozenset({R}),
    "POST /learning/review/similarity/<int:flag_id>/decide/": frozenset({R}),
    "GET /learning/digest/": frozenset({L, R}),
    # Spaced review (core/learning/review_views.py): learners' own.
    "POST /learning/lessons/<int:lesson_id>/done/": frozenset({L}),
    "GET /learning/due/": frozenset({L}),
    "POST /learning/due/<int:card_id>/answer/": frozenset({L}),
    "POST /learning/digest/": frozenset({L, R}),
    "GET /ops/": frozenset({OP, OV, A}),
    "GET /ops/figures.json": frozenset({OP, OV, A}),
    "GET /ops/charts/": frozenset({OP, OV, A}),
    "POST /ops/dead-letters/redrive/": frozenset({OP}),
    "GET /ops/dead-letters/bulk/": frozenset({OP, OV, A}),
    "POST /ops/dead-letters/bulk/confirm/": frozenset({OP}),
    "GET /ops/bulk/<int:bulk_id>/": frozenset({OP, OV, A}),
    "GET /ops/heal/": frozenset({OP, OV, A}),
    "GET /ops/heal/rows": frozenset({OP, OV, A}),
    "POST /ops/heal/<str:name>/": frozenset({OP}),
    "GET /audit/": frozenset({A, OP, OV}),
    "GET /audit/events/<int:event_id>/": frozenset({A, OP, OV}),
    "GET /audit/exports/": frozenset({A, OP, OV}),
    "GET /audit/trace/": frozenset({A, OP, OV}),
    "POST /audit/exports/new/": frozenset({A, OP}),
    "GET /audit/exports/<int:export_id>/file": frozenset({A, OP, OV}),
    "GET /audit/reads/": frozenset({A}),
    "GET /audit/reads/<int:read_id>/": frozenset({A}),
    "GET /people/": frozenset({AA}),
    "POST /people/invite/": frozenset({AA}),
    "POST /people/invitations/<int:invitation_id>/revoke/": frozenset({AA}),
    "POST /people/mfa-policy/": frozenset({AA}),
    "GET /people/<int:user_id>/": frozenset({AA}),
    "POST /people/<int:user_id>/roles/": frozenset({AA}),
    "POST /people/<int:user_id>/<slug:action>/": frozenset({AA}),
}

# Open to everyone, signed in or not.
PUBLIC = frozenset({
    "GET /healthz", "GET /accounts/login/", "POST /accounts/login/", "POST /accounts/logout/",
    "GET /api/openapi.json", "GET /api/docs",
    # Password reset by mail; an invitee's join page (the link is the credential).
    "GET /accounts/password/reset/", "POST /accounts/password/reset/", "GET /accounts/password/reset/sent/",
    "GET /accounts/password/reset/<uidb64>/<token>/", "POST /accounts/password/reset/<uidb64>/<token>/",
    "GET /accounts/password/reset/done/", "GET /people/join/<str:token>/", "POST /people/join/<str:token>/",
    # A digest's unsubscribe link (signed; it can only turn that person's digests off).
    "GET /learning/digest/unsubscribe/<str:token>/", "POST /learning/digest/unsubscribe/<str:token>/",
})
# Any signed-in user (the home page lists what their roles open; everyone's own second factor,
# password and sessions).
SIGNED_IN = frozenset({
    "GET /", "GET /accounts/sessions/", "POST /accounts/sessions/end/",
    "GET /accounts/mfa/", "POST /accounts/mfa/", "GET /accounts/mfa/setup/", "POST /accounts/mfa/setup/",
    "GET /accounts/mfa/settings/", "POST /accounts/mfa/recovery-codes/",
    "GET /accounts/preferences/", "POST /accounts/preferences/",
    "GET /accounts/password/change/", "POST /accounts/password/change/", "GET /accounts/password/change/done/",
})
# Nothing there for anyone: django-ninja's root only anchors the API's URLs.
NOWHERE = frozenset({"GET /api/"})
# Django's admin is for platform staff: every tenant user, whatever the role, is sent to its
# sign-in page. Its own sign-in page is open; its sign-out sends strangers to its index
# (which sends them on to sign in).
ADMIN = "/admin/"
ADMIN_OPEN = frozenset({"GET /admin/login/"})
ADMIN_TO_INDEX = frozenset({"GET /admin/logout/"})

# Learning's form posts answer a refused write (another agency's object included) with the
# reason as a message and a redirect (core/learning/views.py: _attempt), not with a 404:
# the object is neither shown nor changed, and the message says it was not found.
REFUSED_WITH_A_MESSAGE = frozenset({
    "POST /learning/review/contents/<int:content_id>/rollback/",
    "POST /learning/review/versions/<int:version_id>/submit/",
    "POST /learning/review/versions/<int:version_id>/review/",
    "POST /learning/review/versions/<int:version_id>/publish/",
    "POST /learning/review/reviews/<int:review_id>/reply/",
})

# An admitted role naming its own agency's object, where the object is another user's.
OWNER_ONLY: dict[tuple[str, Role], int] = {
    # Notifications are their recipient's: the agency's is its reviewer's, learners get none.
    ("POST /api/notifications/<notification_id>/read", L): 404,
}

# --- the URL configuration ----------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    route: str  # "/" + the URL pattern's route, converters included
    callback: Any

    @property
    def key(self) -> str:
        return f"{self.method} {self.route}"

    @property
    def is_api(self) -> bool:
        return self.route.startswith("/api/") and self.key not in PUBLIC | NOWHERE

    @property
    def is_admin(self) -> bool:
        return self.route.startswith(ADMIN)


def url_patterns(patterns: list[Any] | None = None, prefix: str = "/") -> Iterator[tuple[str, URLPattern]]:
    """(route, pattern) of every URL pattern, nested includes and the API's routes included."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from url_patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def _api_methods() -> dict[str, list[str]]:
    """URL name of an API operation -> its methods."""
    methods: dict[str, list[str]] = {}
    for operation in api_operations():
        methods.setdefault(operation.url_name, []).append(operation.method)
    return methods


def endpoints() -> list[Endpoint]:
    """Every (method, route) the URL configuration serves. API operations say their methods;
    a page's methods are the ones its rows declare (GET if none does, so that a page without
    a row still appears, and fails for want of one)."""
    api_methods = _api_methods()
    declared = {*API, *PAGES, *PUBLIC, *SIGNED_IN, *NOWHERE}
    found = []
    for route, pattern in url_patterns():
        if route.startswith("/api/") and pattern.name in api_methods:
            methods = api_methods[pattern.name]
        elif route.startswith(ADMIN):
            methods = ["GET"]
        else:
            methods = sorted(key.split(" ")[0] for key in declared if key.split(" ", 1)[1] == route) or ["GET"]
        found += [Endpoint(method, route, pattern.callback) for method in methods]
    return found


ENDPOINTS = endpoints()


def declared_roles(endpoint: Endpoint) -> frozenset[Role] | None:
    """The roles the code admits: the API operation's RoleAuth, or the page's ferry_roles."""
    if endpoint.is_api:
        for operation in api_operations():
            if operation.method == endpoint.method and operation.path == _api_path(endpoint.route):
                return operation.roles
        return None
    roles = getattr(endpoint.callback, "ferry_roles", None)
    return frozenset(roles) if roles is not None else None


def _api_path(route: str) -> str:
    """/api/visits/<visit_id> -> /api/visits/{visit_id} (OpenAPI's spelling)."""
    return re.sub(r"<(\w+)>", r"{\1}", route)


def _django_route(path: str) -> str:
    return re.sub(r"{(\w+)}", r"<\1>", path)


# --- the tables against the code --------------------------------------------------------------------


def test_every_endpoint_has_a_declared_expectation() -> None:
    tables = {**API, **PAGES, **dict.fromkeys(PUBLIC | SIGNED_IN | NOWHERE)}
    missing = [e.key for e in ENDPOINTS if not e.is_admin and e.key not in tables]
    assert not missing, f"endpoints without a row in test_auth_matrix.py: {missing}"
    served = {e.key for e in ENDPOINTS}
    stale = sorted(set(tables) - served)
    assert not stale, f"rows for endpoints the URL configuration no longer has: {stale}"


def test_the_tables_restate_the_roles_the_code_declares() -> None:
    for endpoint in ENDPOINTS:
        if endpoint.key in API or endpoint.key in PAGES:
            table = API.get(endpoint.key) or PAGES[endpoint.key]
            assert declared_roles(endpoint) == table, endpoint.key
        elif not endpoint.is_admin:
            assert declared_roles(endpoint) is None, f"{endpoint.key} declares roles but is listed as open"


# An auditor's one write: having the history they read made into a file (adr/0021).
EXPORT_REQUESTS = frozenset({"POST /api/audit/exports", "POST /audit/exports/new/"})


def test_auditors_and_ops_viewers_write_nowhere() -> None:
    writes = [key for key, roles in {**API, **PAGES}.items()
              if not key.startswith("GET ") and (roles & {OV} or (roles & {A} and key not in EXPORT_REQUESTS))]
    assert not writes


def test_api_operations_are_all_in_the_url_configuration() -> None:
    served = {e.key for e in ENDPOINTS if e.is_api}
    assert served == {f"{op.method} {_django_route(op.path)}" for op in api_operations()}


# --- the endpoints, called -------------------------------------------------------------------------

# Valid bodies, so that what is judged is who calls and which object, not the body.
BODIES: dict[str, dict[str, Any]] = {
    "POST /api/dispatch/clinicians": {"name": "Iris Chen", "skills": ["nursing"], "shift_start": "08:00",
                                      "shift_end": "16:00", "start_lat": 42.35, "start_lon": -71.06},
    "PATCH /api/dispatch/clinicians/<clinician_id>": {"name": "Nora W. Whitfield"},
    "POST /api/dispatch/visits": {"patient_ref": "HB-0100", "lat": 42.35, "lon": -71.08, "date": DAY.isoformat(),
                                  "window_start": "09:00", "window_end": "11:00", "duration_minutes": 30},
    "PATCH /api/dispatch/visits/<visit_id>": {"priority": 2},
    "POST /api/dispatch/optimize-day": {"date": DAY.isoformat()},
    "POST /api/dispatch/clinicians/<clinician_id>/sick": {"date": DAY.isoformat(), "from_time": "11:00"},
    "POST /api/dispatch/visits/<visit_id>/running-over": {"until": "23:00"},
    "POST /api/problems": {"title": "Subtract", "body": "Write `sub`.",
                           "tests": "import solution\n\ndef test_sub():\n    assert solution.sub(3, 1) == 2\n"},
    "POST /api/lessons": {"title": "Gloves", "body": "Change gloves between patients."},
    "POST /api/contents/<content_id>/versions": {"title": "Hand hygiene, third take", "body": "Twenty seconds."},
    "POST /api/contents/<content_id>/rollback": {"version_id": "<version_id>"},
    "POST /api/versions/<version_id>/review": {"decision": "approve"},
    "POST /api/reviews/<review_id>/replies": {"body": "Thanks, done."},
    "POST /api/problems/<problem_id>/submissions": {"source": "def add(a, b):\n    return a + b\n"},
    "POST /api/review/cards/<card_id>/answers": {"choices": [1]},
    "POST /api/similarity-flags/<flag_id>/decision": {"decision": "dismissed"},
    "POST /api/exports": {"content_ids": ["<problem_id>", "<lesson_id>"]},
    "POST /api/ops/heal/<name>": {"dry_run": True},
    "POST /api/ops/dead-letters/bulk": {"action": "redrive"},
    "POST /api/dispatch/schedules": {"name": "Tomorrow", "cron": "0 17 * * 1-5"},
    "PATCH /api/dispatch/schedules/<schedule_id>": {"priority": 2},
}
# Form posts of pages, filled in like the forms are.
FORMS: dict[str, dict[str, str]] = {
    "POST /learning/review/contents/<int:content_id>/rollback/": {"version_id": "<version_id>"},
    "POST /learning/review/versions/<int:version_id>/review/": {"decision": "approve"},
    "POST /learning/review/reviews/<int:review_id>/reply/": {"body": "Thanks, done.", "version_id": "<version_id>"},
    "POST /people/invite/": {"email": "new.nurse@example.com", "roles": "learner"},
    "POST /people/<int:user_id>/roles/": {"roles": "learner"},
    "POST /people/mfa-policy/": {"mfa_roles": "ops"},
    "POST /learning/digest/": {"frequency": "daily"},
    "POST /learning/due/<int:card_id>/answer/": {"choices": "1"},
    "POST /learning/review/similarity/<int:flag_id>/decide/": {"decision": "dismissed"},
    "POST /learning/review/exports/": {"content_ids": "<problem_id>"},
    "POST /audit/exports/new/": {"format": "csv"},
    "POST /dispatch/day/<str:day>/clinicians/<int:clinician_id>/sick": {"from_time": "11:00"},
    "POST /dispatch/visits/<int:visit_id>/running-over": {"until": "23:00"},
    "POST /dispatch/schedules/new": {"name": "Tomorrow", "cron": "0 17 * * 1-5", "days_ahead": "1",
                                     "priority": "5", "enabled": "on"},
    "POST /dispatch/schedules/<int:schedule_id>/edit": {"name": "Tomorrow", "cron": "0 18 * * 1-5",
                                                        "days_ahead": "1", "priority": "5", "enabled": "on"},
}
QUERIES: dict[str, dict[str, str]] = {
    "GET /audit/trace/": {"trace": "a-request-id"},
    "GET /api/dispatch/route-plans": {"date": DAY.isoformat()},
    "GET /api/search": {"q": "hygiene"},
    "GET /learning/search/": {"q": "hygiene"},
}
PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")
ADMIN_REGEX_GROUP = re.compile(r"\(\?P<(\w+)>([^)]*)\)")


def url_of(endpoint: Endpoint, agency: Agency) -> str:
    """The endpoint's URL naming `agency`'s objects."""
    # The admin's regex routes: the first alternative of a group, anything for the catch-all.
    url = ADMIN_REGEX_GROUP.sub(lambda m: "nowhere/" if m[1] == "url" else m[2].split("|")[0], endpoint.route)
    return filled_in(url, agency).replace("^", "").replace("$", "")


def filled_in(text: str, agency: Agency) -> str:
    """`text` with each <parameter> replaced by `agency`'s object (or the day, the heal...)."""
    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name in agency.ids:
            return str(agency.ids[name])
        if name == "token" and "/digest/unsubscribe/" in text:  # a digest's link, for one of the agency
            return unsubscribe_token(User.objects.filter(tenant=agency.tenant).order_by("id")[0])
        if name == "token":  # the agency's invitation link (a password-reset link is refused alike)
            return token_of(Invitation.objects.get(id=agency.ids["invitation_id"]))
        return {"day": DAY.isoformat(), "name": HEAL_NAME, "object_id": str(agency.ids["visit_id"]),
                "id": "1", "content_type_id": str(ContentType.objects.get_for_model(Visit).pk),
                "action": "unlock", "change": "pause", "uidb64": "MQ", "pk": "1", "variant": "original"}[name]

    return PARAMETER.sub(value, text)


def names_an_object(endpoint: Endpoint, agencies: Agencies) -> bool:
    return any(name in agencies.harbor.ids for name in PARAMETER.findall(endpoint.route))


def body_value(value: Any, agency: Agency) -> Any:
    """A BODIES value with its "<object>" placeholders (alone, or in a list) as `agency`'s ids."""
    if isinstance(value, list):
        return [body_value(item, agency) for item in value]
    return int(filled_in(value, agency)) if isinstance(value, str) and value.startswith("<") else value


def call(client: Client, endpoint: Endpoint, agency: Agency) -> HttpResponseBase:
    """Call the endpoint naming `agency`'s objects, with a valid body or form."""
    url = url_of(endpoint, agency)
    if endpoint.method == "GET":
        return client.get(url, QUERIES.get(endpoint.key, {}))
    if endpoint.is_api:
        body = {name: body_value(value, agency) for name, value in BODIES.get(endpoint.key, {}).items()}
        return client.generic(endpoint.method, url, json.dumps(body), content_type="application/json")
    form = {name: filled_in(value, agency) for name, value in FORMS.get(endpoint.key, {}).items()}
    return client.post(url, form)


def signed_in(sessions: dict[tuple[str, Role], str], agency: Agency, role: Role, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.cookies[settings.SESSION_COOKIE_NAME] = sessions[agency.tenant.slug, role]
    return client


def status_of(response: HttpResponseBase) -> str:
    """The status, with where a redirect goes: "302 login" for the sign-in page."""
    if response.status_code in (301, 302):
        location = response["Location"]
        if location.startswith(("/accounts/login/", "/admin/login/")):
            return f"{response.status_code} login"
        return f"{response.status_code} elsewhere"
    return str(response.status_code)


ALLOWED = {"200", "201", "202", "204", "302 elsewhere", "400", "409", "422"}


def judge_admitted(key: str, role: Role, got: str) -> str | None:
    """What is wrong with an admitted role's answer about its own agency's object, if anything."""
    expected = OWNER_ONLY.get((key, role))
    if expected is not None:
        return None if got == str(expected) else f"expected {expected}"
    return None if got in ALLOWED else f"expected one of {sorted(ALLOWED)}"


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if not e.is_admin], ids=lambda e: e.key)
def test_the_endpoint_answers_each_role_as_declared(endpoint: Endpoint, agencies: Agencies,
                                                   sessions: dict[tuple[str, Role], str]) -> None:
    key = endpoint.key
    assert key in API or key in PAGES or key in PUBLIC or key in SIGNED_IN or key in NOWHERE, f"no row for {key}"
    harbor, northside = agencies.harbor, agencies.northside
    wrong: list[str] = []

    def check(who: str, response: HttpResponseBase, ok: set[str] | str | None) -> None:
        got = status_of(response)
        if isinstance(ok, str):
            ok = {ok}
        if ok is not None and got not in ok:
            wrong.append(f"{who}: got {got}, expected {sorted(ok)}")
        close(response)

    anonymous = call(Client(), endpoint, harbor)
    if key in NOWHERE:
        check("signed out", anonymous, "404")
        for role in Role:
            check(role.value, call(signed_in(sessions, harbor, role), endpoint, harbor), "404")
        assert not wrong, "\n".join([key, *wrong])
        return
    if key in PUBLIC:
        # A form posted empty may be refused as such (400), never with a 500 or a 403.
        open_answers = {"200", "302 elsewhere", "302 login"} | ({"400"} if endpoint.method == "POST" else set())
        check("signed out", anonymous, open_answers)
        for role in Role:
            check(role.value, call(signed_in(sessions, harbor, role), endpoint, harbor), open_answers)
        assert not wrong, "\n".join([key, *wrong])
        return
    refused_anonymous = "401" if endpoint.is_api else "302 login"
    check("signed out", anonymous, refused_anonymous)
    admitted = ANYONE if key in SIGNED_IN else (API.get(key) or PAGES[key])

    # Refusals first: they must change nothing, and the admitted calls below may delete.
    for role in sorted(set(Role) - admitted):
        check(f"{role.value} of harbor", call(signed_in(sessions, harbor, role), endpoint, harbor), "403")
    if names_an_object(endpoint, agencies):
        for role in sorted(admitted):
            response = call(signed_in(sessions, northside, role), endpoint, harbor)
            if key in REFUSED_WITH_A_MESSAGE:
                check(f"{role.value} of northside, naming harbor's object", response, "302 elsewhere")
                if not any("not found" in str(m) for m in get_messages(response.wsgi_request)):  # type: ignore[attr-defined]
                    wrong.append(f"{role.value} of northside, naming harbor's object: no 'not found' message")
            else:
                check(f"{role.value} of northside, naming harbor's object", response, "404")
    if endpoint.method != "GET":
        for role in sorted(admitted):
            no_token = signed_in(sessions, harbor, role, enforce_csrf_checks=True)
            check(f"{role.value} of harbor without the CSRF token", call(no_token, endpoint, harbor), "403")
    for role in sorted(admitted):
        response = call(signed_in(sessions, harbor, role), endpoint, harbor)
        problem = judge_admitted(key, role, status_of(response))
        if problem:
            wrong.append(f"{role.value} of harbor: got {status_of(response)}, {problem}: {_body(response)}")
        close(response)
    assert not wrong, "\n".join([key, *wrong])


def _body(response: HttpResponseBase) -> str:
    if getattr(response, "streaming", False):
        return "(streamed)"
    return response.content.decode(errors="replace")[:300]  # type: ignore[attr-defined]


def close(response: HttpResponseBase) -> None:
    """Streams (exports) are closed without being read to the end. Closing
    sends request_finished: like the test client, keep Django from closing the connection
    that holds the test's transaction."""
    if getattr(response, "streaming", False):
        request_finished.disconnect(close_old_connections)
        try:
            response.close()
        finally:
            request_finished.connect(close_old_connections)


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.is_admin], ids=lambda e: e.key)
def test_the_admin_is_for_platform_staff_only(endpoint: Endpoint, agencies: Agencies,
                                              sessions: dict[tuple[str, Role], str]) -> None:
    callers = [("signed out", Client())] + [(role.value, signed_in(sessions, agencies.harbor, role)) for role in Role]
    if endpoint.key in ADMIN_OPEN:
        expected = "200"
    elif endpoint.key in ADMIN_TO_INDEX:
        expected = "302 elsewhere"
    else:
        expected = "302 login"
    wrong = []
    for who, client in callers:
        response = call(client, endpoint, agencies.northside)
        if status_of(response) != expected:
            wrong.append(f"{who}: got {status_of(response)}, expected {expected}")
    assert not wrong, "\n".join([endpoint.key, *wrong])


@pytest.mark.django_db
def test_platform_staff_do_reach_the_admin(client: Client) -> None:
    """The admin's 302s above are refusals, not a broken admin."""
    staff = User.objects.create_superuser(username="platform", password="pw")
    sign_in(client, staff)
    assert client.get(ADMIN).status_code == 200
