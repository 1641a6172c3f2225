"""Hostile input: every JSON API operation fuzzed from the OpenAPI schema the code generates.

Schemathesis calls the real Django WSGI application in-process (real PostgreSQL and Redis),
signed in by session cookie with a CSRF token, as a script in a browser would be. Each example is
sent as a user with one of the operation's roles (now and then as someone without one, or
anonymously), naming objects of the caller's agency, of the other agency, or made-up ids.
Every answer must be documented: no 5xx, a status code the operation declares, its content
type and its body schema. Each example runs in a transaction rolled back after it, so the
examples all start from the same two agencies (tests/integration/agencies.py).

The number of examples per operation is FUZZ_EXAMPLES (default 100: about a minute on two
cores). In CI the run is derandomized, so a bug it has not met before cannot fail someone
else's unrelated change; locally, each run explores new inputs and replays earlier failures
from .hypothesis/. Raise FUZZ_EXAMPLES to hunt (400 takes about four minutes).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.conf import settings
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from django.utils.crypto import get_random_string
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.platform.roles import Role
from tests.helpers.agencies import (  # noqa: F401  # the agencies and sessions fixtures
    HEAL_NAME,
    Agencies,
    agencies_fixture,
    api_operations,
    rolled_back,
    sessions_fixture,
)
from tests.helpers.web import sign_in

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]
CSRF_TOKEN = get_random_string(32)


ROLES = {op.operation_id: op.roles for op in api_operations()}


# Fetched from the application at collection: the schema view touches no database.
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
# The session cookie is the test's to send (a user per example, below), not a parameter to fuzz.
schema.config.generation.update(with_security_parameters=False)


@pytest.fixture
def in_process_requests() -> Iterator[None]:
    """Requests run on the test's connection, inside its transaction: Django must not close
    that connection at the start and end of each request (its test client does the same)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _caller(data: st.DataObject, admitted: frozenset[Role]) -> Role | None:
    """Mostly a user with one of the operation's roles; sometimes a stranger to it or nobody."""
    if data.draw(st.integers(0, 9), label="outsider") == 0:
        return data.draw(st.sampled_from([None, *sorted(set(Role) - admitted)]), label="outsider role")
    return data.draw(st.sampled_from(sorted(admitted)), label="role")


def _name_objects(case: Any, data: st.DataObject, agencies: Agencies) -> None:
    """Path parameters that name an object: the caller's agency's, the other's, or as generated.
    Negative cases keep what was generated: it is the invalid part."""
    if case.meta is not None and case.meta.generation.mode == GenerationMode.NEGATIVE:
        return
    for name, generated in list((case.path_parameters or {}).items()):
        if name == "name":
            real: list[object] = [HEAL_NAME]
        elif name in agencies.harbor.ids:
            real = [agencies.harbor.ids[name], agencies.northside.ids[name]]
        else:
            continue
        case.path_parameters[name] = data.draw(st.sampled_from([*real, generated]), label=name)


@pytest.mark.django_db
@schema.parametrize()
@schema.given(data=st.data())
@hypothesis_settings(max_examples=EXAMPLES, deadline=None, derandomize=bool(os.environ.get("CI")),
                     suppress_health_check=list(HealthCheck))
def test_the_api_answers_hostile_input_as_documented(case: Any, data: st.DataObject, agencies: Agencies,
                                                     sessions: dict[tuple[str, Role], str],
                                                     in_process_requests: None) -> None:
    role = _caller(data, ROLES[case.operation.definition.raw["operationId"]])
    _name_objects(case, data, agencies)
    cookies = {"csrftoken": CSRF_TOKEN}
    if role is not None:
        cookies[settings.SESSION_COOKIE_NAME] = sessions["harbor", role]
    headers = {"X-CSRFToken": CSRF_TOKEN}
    with rolled_back():
        response = case.call(headers=headers, cookies=cookies)
    case.validate_response(response, checks=CHECKS, headers=headers)


# --- what the fuzzer found, pinned ---------------------------------------------------------------

# Each was a 500, or for numbers as dates an answer about 1970, before core/platform/schemas.py's input types.
FOUND: list[tuple[Role, str, str, dict[str, Any] | None, str]] = [
    # A time with a UTC offset compared with a wall-clock one: TypeError.
    (Role.DISPATCHER, "PATCH", "/api/dispatch/visits/{visit_id}", {"window_start": "09:00:00+08:44"}, "window_start"),
    (Role.DISPATCHER, "POST", "/api/dispatch/clinicians",
     {"name": "Iris", "shift_start": "08:00Z", "shift_end": "16:00", "start_lat": 42.3, "start_lon": -71.0},
     "shift_start"),
    # A number read as seconds since 1970: "86400" was the visits of 1970-01-02.
    (Role.DISPATCHER, "GET", "/api/dispatch/visits?date=86400", None, "date"),
    (Role.DISPATCHER, "POST", "/api/dispatch/optimize-day", {"date": 0}, "date"),
    (Role.AUDITOR, "GET", "/api/audit/export.csv?since=0.0", None, "since"),
    # NUL in a filter: PostgreSQL's DataError (in an export, in the middle of the stream).
    (Role.AUDITOR, "GET", "/api/audit/events?event_type=%00", None, "event_type"),
    (Role.AUDITOR, "GET", "/api/audit/export.jsonl?aggregate_id=a%00", None, "aggregate_id"),
    (Role.OPS, "GET", "/api/ops/heal-runs?name=%00", None, "name"),
    # A lone surrogate cannot be encoded for PostgreSQL: UnicodeEncodeError.
    (Role.DISPATCHER, "PATCH", "/api/dispatch/clinicians/{clinician_id}", {"name": "\ud800"}, "name"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "method", "path", "body", "field"), FOUND, ids=[f[2] for f in FOUND])
def test_input_the_fuzzer_found_is_refused_naming_the_field(
        client: Client, agencies: Agencies, role: Role, method: str, path: str, body: dict[str, Any] | None,
        field: str) -> None:
    sign_in(client, agencies.harbor.users[role])
    url = path.format(**agencies.harbor.ids)
    response = client.generic(method, url, json.dumps(body) if body is not None else "",
                              content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field


@pytest.mark.django_db
def test_offsets_postgresql_cannot_store_are_read_in_utc(client: Client, agencies: Agencies) -> None:
    """+21:04 is valid ISO 8601 but beyond PostgreSQL's offsets (a DataError): read in UTC."""
    sign_in(client, agencies.harbor.users[Role.AUDITOR])
    response = client.get("/api/audit/events", {"since": "2026-03-09T04:53:44+21:04"})
    assert response.status_code == 200


@pytest.mark.django_db
def test_a_window_of_a_wall_clock_and_an_offset_instant_is_compared_in_utc(client: Client,
                                                                          agencies: Agencies) -> None:
    """Comparing them was a TypeError (500) in the window check."""
    sign_in(client, agencies.harbor.users[Role.AUDITOR])
    response = client.get("/api/audit/events", {"since": "2026-11-01T00:00", "until": "2026-11-02T00:00:00Z"})
    assert response.status_code == 200


@pytest.mark.django_db
def test_a_learners_submissions_to_another_agencys_problem_are_not_found(client: Client,
                                                                         agencies: Agencies) -> None:
    """It was 200 with an empty list: the matrix holds every lookup of another agency's object to 404."""
    sign_in(client, agencies.harbor.users[Role.LEARNER])
    response = client.get(f"/api/problems/{agencies.northside.ids['problem_id']}/submissions")
    assert response.status_code == 404
    assert response.json()["field"] is None
