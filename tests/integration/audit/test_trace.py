"""One request's whole path (#19): the trace page follows an event's request id through every
event it set going, each with its relay, delivery attempts, consumer's effect and completion."""

from __future__ import annotations

import pytest
from django.test import Client
from structlog.contextvars import bound_contextvars

from core.accounts.models import Tenant, User
from core.audit.exports import request_export
from core.platform.roles import Role
from outbox.selectors import HistoryFilter
from tests.helpers.outbox import deliver, events_of
from tests.helpers.people import make_user
from tests.helpers.web import signed_in

pytestmark = pytest.mark.usefixtures("outbox_db")


@pytest.fixture
def traced(audrey: User) -> int:
    """A request (its id bound as the web binds it) that had an export made; the export ran."""
    with bound_contextvars(request_id="req-trace-1"):
        request_export(audrey, HistoryFilter(), "csv")
    deliver("audit.run_export")
    return events_of("audit.export_requested")[0].id


def test_an_events_trace_shows_what_its_request_set_going_with_each_path(audrey: User, traced: int) -> None:
    page = signed_in(audrey).get("/audit/trace/", {"event": traced})
    assert page.status_code == 200
    stories = page.context["stories"]
    assert [story.event.event_type for story, _, _ in stories] == ["audit.export_requested", "audit.export_finished"]
    assert {story.event.trace_id for story, _, _ in stories} == {"req-trace-1"}
    steps = [step for step, _, _, _ in stories[0][1]]
    assert steps[0] == "committed"
    assert {"relayed", "attempt 1", "effect recorded", "completed"} <= set(steps)
    assert [when for _, when, _, _ in stories[0][1]] == sorted(when for _, when, _, _ in stories[0][1])
    assert stories[0][2] == "audrey (auditor)"  # the actor, by name and roles
    assert f'href="/audit/events/{traced}/"'.encode() in page.content  # and back to the event


def test_an_aggregates_events_are_shown_with_their_paths(audrey: User, traced: int) -> None:
    export_id = events_of("audit.export_requested")[0].aggregate_id
    page = signed_in(audrey).get("/audit/trace/", {"aggregate_type": "history_export", "aggregate_id": export_id})
    assert page.status_code == 200
    assert [story.event.event_type for story, _, _ in page.context["stories"]] == [
        "audit.export_requested", "audit.export_finished"]


def test_another_agencys_event_is_not_found_and_a_trace_needs_one_anchor(
        audrey: User, northside: Tenant, traced: int) -> None:
    theirs = signed_in(make_user("nina", northside, Role.AUDITOR))
    assert theirs.get("/audit/trace/", {"event": traced}).status_code == 404
    assert theirs.get("/audit/trace/", {"trace": "req-trace-1"}).context["stories"] == []
    ours = signed_in(audrey)
    anchors: list[dict[str, str]] = [{}, {"event": str(traced), "trace": "req-trace-1"},
                                     {"aggregate_type": "history_export"}]
    for params in anchors:
        refused = ours.get("/audit/trace/", params)
        assert refused.status_code == 400
        assert b"Give one of" in refused.content


def test_the_event_page_and_the_history_link_to_the_trace(client: Client, audrey: User, traced: int) -> None:
    ours = signed_in(audrey)
    assert f"/audit/trace/?event={traced}".encode() in ours.get(f"/audit/events/{traced}/").content
    assert f"/audit/trace/?event={traced}".encode() in ours.get("/audit/").content
