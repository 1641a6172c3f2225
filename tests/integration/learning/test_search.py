"""The search index follows what is live, whatever order its events arrive in, and search
returns only the caller's agency's published content, ranked and safely highlighted."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from core.accounts.models import User
from core.learning import services
from core.learning.indexing import IndexAction, sync_search_document
from core.learning.models import Content, Kind, SearchDocument
from core.learning.rendering import RENDER_REVISION
from outbox.models import OutboxEvent
from tests.helpers.learning import approved, document_row, next_approved, published
from tests.helpers.outbox import deliver, events_of, execute, pending_tasks
from tests.helpers.web import sign_in

pytestmark = pytest.mark.django_db


def search(client: Client, user: User, q: str, **params: str) -> list[dict[str, object]]:
    sign_in(client, user)
    response = client.get("/api/search", {"q": q, **params})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_a_published_lesson_appears_in_search_once_its_index_task_ran(client: Client, bob: User, lena: User) -> None:
    version = published(bob, bob, title="Hand hygiene before wound care",
                        body="Wash hands with soap for **twenty seconds** before touching a wound dressing.")
    assert search(client, lena, "wound dressing") == []  # the index is written only by the task
    assert deliver("learning.index_content") == 1
    [hit] = search(client, lena, "wound dressing")
    assert (hit["content_id"], hit["version_id"], hit["kind"]) == (version.content_id, version.id, "lesson")
    assert "<mark>wound</mark>" in str(hit["snippet_html"])
    assert "<mark>dressing</mark>" in str(hit["snippet_html"])
    assert "**" not in str(hit["snippet_html"])  # indexed as plain text, not Markdown


def test_publishing_writes_the_index_event_and_the_live_event_in_the_same_transaction(bob: User) -> None:
    version = approved(bob, bob)
    content = services.publish_version(version.id, bob)
    [task_event, live_event] = events_of("content.published")
    assert task_event.task_name == "learning.index_content"
    assert task_event.queue == "default"
    assert task_event.payload == {"content_id": content.id, "version_id": version.id, "live_seq": 1}
    assert live_event.channel == f"tenant:{bob.tenant_id}:events"
    assert task_event.txid == live_event.txid  # one transaction with the change
    assert json.loads(json.dumps(task_event.payload)) == task_event.payload


def test_unpublishing_removes_the_document(client: Client, bob: User, lena: User) -> None:
    version = published(bob, bob, body="Check the oxygen concentrator filter weekly.")
    deliver()
    assert search(client, lena, "oxygen concentrator")
    services.unpublish_content(version.content_id, bob)
    deliver()
    assert search(client, lena, "oxygen concentrator") == []
    assert not SearchDocument.objects.filter(content_id=version.content_id).exists()


def test_a_rollback_makes_search_return_the_older_version(client: Client, bob: User, lena: User) -> None:
    first = published(bob, bob, title="Falls prevention", body="Remove loose rugs from walkways.")
    content = Content.objects.get(id=first.content_id)
    second = next_approved(content, bob, bob, "Falls prevention (revised)", "Install grab bars near the toilet.")
    services.publish_version(second.id, bob)
    deliver()
    assert [h["version_id"] for h in search(client, lena, "falls")] == [second.id]
    services.rollback_content(content.id, first.id, bob)
    deliver()
    [hit] = search(client, lena, "falls")
    assert hit["version_id"] == first.id
    assert search(client, lena, "grab bars") == []
    assert search(client, lena, "rugs")[0]["version_id"] == first.id


def test_index_events_delivered_out_of_order_never_leave_an_older_version_indexed(bob: User) -> None:
    first = published(bob, bob, title="Insulin storage", body="Keep unopened insulin refrigerated.")
    content = Content.objects.get(id=first.content_id)
    second = next_approved(content, bob, bob, "Insulin storage", "Opened pens keep for 28 days at room temperature.")
    services.publish_version(second.id, bob)
    old_event, new_event = pending_tasks("learning.index_content")
    assert old_event.payload["version_id"] == first.id
    execute(new_event)
    execute(old_event)  # the older event arrives last
    assert document_row(content.id) == (second.id, 2, "Insulin storage")


def test_a_stale_index_write_never_overwrites_a_later_change(bob: User) -> None:
    """Even a write computed before a newer one (lower live_seq) cannot replace it."""
    from django.db import connection, transaction

    from core.learning import queries

    first = published(bob, bob, title="Pressure ulcers", body="Reposition every two hours.")
    content = Content.objects.get(id=first.content_id)
    second = next_approved(content, bob, bob, "Pressure ulcers", "Use a pressure-relieving mattress.")
    services.publish_version(second.id, bob)
    deliver()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(queries.UPSERT_DOCUMENT, {
            "content_id": content.id, "tenant_id": bob.tenant_id, "kind": "lesson", "version_id": first.id,
            "version_number": 1, "live_seq": 1, "title": "Pressure ulcers", "body_text": "stale",
            "render_revision": RENDER_REVISION})
        assert cursor.fetchone() is None
        cursor.execute(queries.DELETE_DOCUMENT, {"content_id": content.id, "tenant_id": bob.tenant_id,
                                                 "live_seq": 1})
        assert cursor.fetchone() is None
    assert document_row(content.id) == (second.id, 2, "Pressure ulcers")


def test_a_duplicate_index_delivery_is_absorbed_by_the_inbox(bob: User) -> None:
    version = published(bob, bob)
    [event] = pending_tasks("learning.index_content")
    assert execute(event) == "indexed"
    assert execute(event) is None  # the inbox already holds the event
    assert OutboxEvent.objects.get(id=event.id).status == "completed"
    assert document_row(version.content_id) is not None


def test_indexing_touches_only_the_tenant_of_the_event(bob: User, carol: User) -> None:
    version = published(bob, bob)
    deliver()
    from django.db import transaction

    with transaction.atomic():
        # An event naming Harbor's content but carrying Northside's tenant changes nothing.
        assert sync_search_document(version.content_id, carol.tenant_id).action == IndexAction.UNCHANGED  # type: ignore[arg-type]
    assert document_row(version.content_id) is not None


def test_search_returns_only_the_callers_agency(client: Client, bob: User, lena: User, carol: User) -> None:
    published(bob, bob, title="Catheter care at Harbor", body="Harbor's catheter protocol.")
    published(carol, carol, title="Catheter care at Northside", body="Northside's catheter protocol.")
    deliver()
    assert [h["title"] for h in search(client, lena, "catheter")] == ["Catheter care at Harbor"]
    assert [h["title"] for h in search(client, carol, "catheter")] == ["Catheter care at Northside"]


def test_results_are_ranked_and_filterable_by_kind(client: Client, bob: User, lena: User) -> None:
    published(bob, bob, title="Medication reconciliation", body="Compare the medication list at every visit.")
    published(bob, bob, title="Documenting a visit", body="Note any change, such as a new medication.")
    published(bob, bob, kind=Kind.PROBLEM, title="Medication doses",
              body="Write `add(a, b)` to sum two medication doses.")
    deliver()
    titles = [h["title"] for h in search(client, lena, "medication")]
    assert titles[0] in {"Medication reconciliation", "Medication doses"}  # title matches weigh more
    assert titles[-1] == "Documenting a visit"
    assert [h["title"] for h in search(client, lena, "medication", kind="problem")] == ["Medication doses"]


def test_snippets_escape_the_text_and_keep_only_the_highlights(client: Client, bob: User, lena: User) -> None:
    published(bob, bob, title="Escaping <b>bold</b> claims",
              body="Never trust <script>alert('x')</script> markup near the wound edge.")
    deliver()
    [hit] = search(client, lena, "wound")
    snippet, title = str(hit["snippet_html"]), str(hit["title_html"])
    assert "<script>" not in snippet
    assert "<mark>wound</mark>" in snippet
    assert "<b>" not in title
    assert "&lt;b&gt;" in title


@pytest.mark.parametrize(("q", "message"), [("", "must not be empty"), ("   ", "must not be empty"),
                                            ("x" * 201, "longer than")])
def test_a_bad_query_is_a_400_naming_q(client: Client, lena: User, q: str, message: str) -> None:
    sign_in(client, lena)
    response = client.get("/api/search", {"q": q})
    assert response.status_code == 400
    assert response.json()["field"] == "q"
    assert message in response.json()["message"]


@pytest.mark.parametrize(("params", "field"), [({"limit": "0"}, "limit"), ({"limit": "-1"}, "limit"),
                                                ({"limit": "1000"}, "limit"), ({"kind": "video"}, "kind"),
                                                ({"limit": "ten"}, "limit")])
def test_bad_search_parameters_are_a_400_naming_them(client: Client, lena: User, params: dict[str, str],
                                                     field: str) -> None:
    sign_in(client, lena)
    response = client.get("/api/search", {"q": "wound", **params})
    assert (response.status_code, response.json()["field"]) == (400, field)


def test_query_syntax_never_errors(client: Client, bob: User, lena: User) -> None:
    published(bob, bob, title="Wound care", body="Clean the wound from the centre outwards.")
    deliver()
    for q in ['"wound care', "wound & | !", "-wound", "the", "wound OR", "'; DROP TABLE x; --"]:
        sign_in(client, lena)
        assert client.get("/api/search", {"q": q}).status_code == 200, q


def test_dispatchers_may_not_search(client: Client, alice: User) -> None:
    sign_in(client, alice)
    assert client.get("/api/search", {"q": "wound"}).status_code == 403
