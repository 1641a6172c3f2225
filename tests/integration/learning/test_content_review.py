"""Versioned content through review: drafts, decisions, publish / unpublish / rollback, each
a conditional state change with its outbox event, and errors that name the field."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client

from core.accounts.models import User
from core.learning import services
from core.learning.models import Content, Kind, Version
from core.learning.rendering import render_body
from tests.helpers.learning import ADD_TESTS, approved, next_approved, published
from tests.helpers.outbox import events_of
from tests.helpers.web import sign_in

pytestmark = pytest.mark.django_db


def post(client: Client, user: User, path: str, data: dict[str, object] | None = None) -> tuple[int, dict]:
    sign_in(client, user)
    response = client.post(path, data or {}, content_type="application/json")
    return response.status_code, response.json()


def test_a_reviewer_creates_a_problem_whose_first_version_is_a_draft(client: Client, bob: User) -> None:
    status, body = post(client, bob, "/api/problems", {"title": "Add two doses", "body": "Write `add(a, b)`.",
                                                         "tests": ADD_TESTS})
    assert status == 201
    assert (body["number"], body["status"], body["kind"], body["live"]) == (1, "draft", "problem", False)
    assert Version.objects.get(id=body["id"]).tests == ADD_TESTS.strip()


@pytest.mark.parametrize(("data", "field"), [
    ({"title": "", "body": "x", "tests": ADD_TESTS}, "title"),
    ({"title": "t", "body": "", "tests": ADD_TESTS}, "body"),
    ({"title": "t", "body": "x", "tests": ""}, "tests"),
    ({"title": "t", "body": "x", "tests": "def test_x(:\n"}, "tests"),
    ({"title": "t", "body": "x", "tests": "def check():\n    pass\n"}, "tests"),
    ({"title": "t" * 201, "body": "x", "tests": ADD_TESTS}, "title"),
    ({"body": "x"}, "title"),
])
def test_bad_problem_input_is_a_400_naming_the_field(client: Client, bob: User, data: dict, field: str) -> None:
    status, body = post(client, bob, "/api/problems", data)
    assert status == 400
    assert body["field"] == field
    assert not Content.objects.exists()  # nothing half-written


def test_lessons_have_no_tests(client: Client, bob: User) -> None:
    status, body = post(client, bob, "/api/lessons", {"title": "t", "body": "x", "tests": ADD_TESTS})
    assert (status, body["field"]) == (400, "tests")


def test_learners_cannot_author(client: Client, lena: User) -> None:
    status, _ = post(client, lena, "/api/lessons", {"title": "t", "body": "x"})
    assert status == 403


def test_the_full_review_path_from_draft_to_live(client: Client, bob: User, rita: User) -> None:
    _, draft = post(client, bob, "/api/lessons", {"title": "Hand hygiene", "body": "Wash for 20 s."})
    assert post(client, bob, f"/api/versions/{draft['id']}/submit")[1]["status"] == "in_review"
    status, decision = post(client, rita, f"/api/versions/{draft['id']}/review", {"decision": "approve"})
    assert (status, decision["version_status"]) == (201, "approved")
    status, live = post(client, rita, f"/api/versions/{draft['id']}/publish")
    assert status == 200
    assert (live["live_version_id"], live["live_seq"]) == (draft["id"], 1)
    sign_in(client, bob)
    page = client.get(f"/api/lessons/{draft['content_id']}").json()
    assert page["body_html"] == "<p>Wash for 20 s.</p>"


def test_publishing_an_unapproved_version_is_a_409_and_changes_nothing(client: Client, bob: User) -> None:
    version = services.create_content(bob, Kind.LESSON, "Draft", "Not yet reviewed.")
    status, body = post(client, bob, f"/api/versions/{version.id}/publish")
    assert (status, body["error"], body["field"]) == (409, "conflict", "version")
    assert "draft" in body["message"]
    assert Content.objects.get(id=version.content_id).live_version_id is None
    assert events_of("content.published") == []


def test_publishing_the_live_version_again_is_a_409(client: Client, bob: User) -> None:
    version = published(bob, bob)
    status, body = post(client, bob, f"/api/versions/{version.id}/publish")
    assert (status, body["message"]) == (409, f"version {version.id} is already live")
    assert Content.objects.get(id=version.content_id).live_seq == 1


def test_a_version_can_be_reviewed_only_while_in_review(client: Client, bob: User) -> None:
    version = services.create_content(bob, Kind.LESSON, "Draft", "Body")
    status, body = post(client, bob, f"/api/versions/{version.id}/review", {"decision": "approve"})
    assert (status, body["field"]) == (409, "version")


@pytest.mark.parametrize(("data", "field"), [({"decision": "maybe"}, "decision"),
                                             ({"decision": "reject", "comment": "  "}, "comment"),
                                             ({"decision": "request_changes"}, "comment")])
def test_bad_review_input_is_a_400_naming_the_field(client: Client, bob: User, data: dict, field: str) -> None:
    version = services.create_content(bob, Kind.LESSON, "Draft", "Body")
    services.submit_for_review(version.id, bob)
    status, body = post(client, bob, f"/api/versions/{version.id}/review", data)
    assert (status, body["field"]) == (400, field)
    assert Version.objects.get(id=version.id).status == "in_review"


def test_requesting_changes_leaves_the_version_and_the_next_one_is_new(bob: User, rita: User) -> None:
    version = services.create_content(bob, Kind.LESSON, "Wound care", "Draft one")
    services.submit_for_review(version.id, bob)
    services.review_version(version.id, rita, "request_changes", "Say which saline.")
    assert Version.objects.get(id=version.id).status == "changes_requested"
    second = services.create_version(version.content_id, bob, "Wound care", "Use sterile saline.")
    assert second.number == 2
    assert second.status == "draft"


def test_versions_are_immutable_in_the_database(bob: User) -> None:
    version = services.create_content(bob, Kind.LESSON, "Original", "Body")
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
        Version.objects.filter(id=version.id).update(body="edited in place")
    assert Version.objects.get(id=version.id).body == "Body"


def force_live_version(content_id: int, version_id: int) -> None:
    """Bypass the write functions, and check the deferred constraint at once."""
    with transaction.atomic():
        Content.objects.filter(id=content_id).update(live_version_id=version_id)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_the_live_version_must_belong_to_its_content(bob: User) -> None:
    one = approved(bob, bob)
    other = approved(bob, bob, title="Other")
    with pytest.raises(IntegrityError, match="learning_content_live_version_of_content"):
        force_live_version(one.content_id, other.id)
    assert Content.objects.get(id=one.content_id).live_version_id is None


def test_unpublish_and_rollback_each_emit_their_event(bob: User) -> None:
    first = published(bob, bob)
    content = Content.objects.get(id=first.content_id)
    second = next_approved(content, bob, bob, "v2", "second")
    services.publish_version(second.id, bob)
    services.rollback_content(content.id, first.id, bob)
    services.unpublish_content(content.id, bob)
    seqs = [(e.event_type, e.payload["version_id"], e.payload["live_seq"])
            for e in events_of("content.published") + events_of("content.rolled_back")
            + events_of("content.unpublished") if e.task_name]
    assert seqs == [("content.published", first.id, 1), ("content.published", second.id, 2),
                    ("content.rolled_back", first.id, 3), ("content.unpublished", None, 4)]
    # The index tasks of one content take effect one at a time, in this order.
    keyed = sorted((e.key_seq, e.event_type) for e in events_of("content.published") + events_of("content.rolled_back")
                   + events_of("content.unpublished") if e.task_name)
    assert {e.ordering_key for e in events_of("content.published") if e.task_name} == {f"content:{content.id}"}
    assert keyed == [(1, "content.published"), (2, "content.published"), (3, "content.rolled_back"),
                     (4, "content.unpublished")]


def test_unpublishing_what_is_not_published_is_a_409(client: Client, bob: User) -> None:
    version = approved(bob, bob)
    status, body = post(client, bob, f"/api/contents/{version.content_id}/unpublish")
    assert (status, body["field"]) == (409, "content")


def test_rollback_only_to_a_version_that_was_published(client: Client, bob: User) -> None:
    first = published(bob, bob)
    content = Content.objects.get(id=first.content_id)
    never = next_approved(content, bob, bob, "v2", "approved, never published")
    status, body = post(client, bob, f"/api/contents/{content.id}/rollback", {"version_id": never.id})
    assert (status, body["field"]) == (409, "version_id")
    status, body = post(client, bob, f"/api/contents/{content.id}/rollback", {"version_id": first.id})
    assert (status, body["field"]) == (409, "version_id")  # already live
    status, body = post(client, bob, f"/api/contents/{content.id}/rollback", {"version_id": 999999})
    assert (status, body["field"]) == (404, "version_id")


def test_another_agencys_content_is_404_for_every_operation(client: Client, bob: User, carol: User) -> None:
    version = published(bob, bob, kind=Kind.PROBLEM)
    for path in (f"/api/versions/{version.id}/publish", f"/api/versions/{version.id}/submit",
                 f"/api/contents/{version.content_id}/unpublish"):
        status, body = post(client, carol, path)
        assert (status, body["error"]) == (404, "not_found"), path
    sign_in(client, carol)
    for path in (f"/api/problems/{version.content_id}", f"/api/versions/{version.id}",
                 f"/api/contents/{version.content_id}"):
        assert client.get(path).status_code == 404, path
    assert Content.objects.get(id=version.content_id).live_version_id == version.id


def test_learners_see_published_content_only(client: Client, bob: User, lena: User) -> None:
    live = published(bob, bob, title="Live lesson")
    draft = services.create_content(bob, Kind.LESSON, "Draft lesson", "Body")
    sign_in(client, lena)
    assert [c["title"] for c in client.get("/api/lessons").json()] == ["Live lesson"]
    assert client.get(f"/api/lessons/{live.content_id}").status_code == 200
    assert client.get(f"/api/lessons/{draft.content_id}").status_code == 404
    assert client.get(f"/api/versions/{draft.id}").status_code == 403  # reviewers only


def test_markdown_is_rendered_without_any_way_to_run_script() -> None:
    hostile = ("# Title\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n"
               "[click](javascript:alert(3))\n\n<iframe src='https://evil'></iframe>\n\n"
               "<a href=\"https://example.com\" onclick=\"steal()\">ok</a> **bold**")
    rendered = render_body(hostile).html
    for bad in ("<script", "onerror", "javascript:", "<iframe", "onclick"):
        assert bad not in rendered.lower(), bad
    assert "<h1>Title</h1>" in rendered
    assert "<strong>bold</strong>" in rendered
    assert 'href="https://example.com"' in rendered


def test_rendered_pages_are_cached_by_version_so_a_publish_never_serves_stale_html(
        client: Client, bob: User, lena: User) -> None:
    first = published(bob, bob, body="First text.")
    sign_in(client, lena)
    assert "First text." in client.get(f"/api/lessons/{first.content_id}").json()["body_html"]
    content = Content.objects.get(id=first.content_id)
    second = next_approved(content, bob, bob, "v2", "Second text.")
    services.publish_version(second.id, bob)
    assert "Second text." in client.get(f"/api/lessons/{first.content_id}").json()["body_html"]
    services.rollback_content(content.id, first.id, bob)
    assert "First text." in client.get(f"/api/lessons/{first.content_id}").json()["body_html"]
