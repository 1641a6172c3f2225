"""The learning pages: learners browse, search and open problems; reviewers work the queue and
act on versions; every page checks roles and tenant, and errors become messages, not 500s."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from django.test import Client

from core.accounts.models import User
from core.learning import services
from core.learning.models import Content, Kind, Version
from outbox.reader import Cursor, current_position
from tests.helpers.learning import approved, next_approved, published
from tests.helpers.outbox import deliver
from tests.helpers.web import sign_in

pytestmark = pytest.mark.django_db


def test_a_learner_sees_published_lessons_and_problems(client: Client, bob: User, lena: User) -> None:
    published(bob, bob, title="Hand hygiene before wound care")
    published(bob, bob, kind=Kind.PROBLEM, title="Total daily medication dose")
    approved(bob, bob, title="Unpublished draft")
    sign_in(client, lena)
    page = client.get("/learning/").content.decode()
    assert "Hand hygiene before wound care" in page
    assert "Total daily medication dose" in page
    assert "Unpublished draft" not in page


def test_the_search_page_highlights_matches_and_escapes_everything_else(client: Client, bob: User,
                                                                        lena: User) -> None:
    published(bob, bob, title="Wound <care>", body="Clean the wound gently.")
    deliver()
    sign_in(client, lena)
    page = client.get("/learning/search/", {"q": "wound"}).content.decode()
    assert "<mark>Wound</mark> &lt;care&gt;" in page
    assert "Clean the <mark>wound</mark> gently" in page
    bad = client.get("/learning/search/", {"q": "x" * 300})
    assert bad.status_code == 200
    assert "longer than" in bad.content.decode()


def test_the_problem_page_renders_safe_html_and_the_code_box(client: Client, bob: User, lena: User) -> None:
    version = published(bob, bob, kind=Kind.PROBLEM, title="Dose", body="Write `add`.<script>alert(1)</script>")
    sign_in(client, lena)
    page = client.get(f"/learning/problems/{version.content_id}/").content.decode()
    assert "<code>add</code>" in page
    assert "alert(1)" not in page
    assert 'id="submit-form"' in page
    assert f'data-url="/api/problems/{version.content_id}/submissions"' in page


def test_every_live_page_hands_its_stream_the_position_read_before_its_data(client: Client, bob: User,
                                                                            lena: User) -> None:
    """Each page's EventSource replays from the page's own render-time position, so an event
    committed between rendering and connecting (a grade, a streak, a bundle) is not missed."""
    problem = published(bob, bob, kind=Kind.PROBLEM, title="Dose", body="Write `add`.")
    pages = [(lena, "/learning/"), (lena, "/learning/due/"), (lena, f"/learning/problems/{problem.content_id}/"),
             (bob, "/learning/review/exports/")]
    for user, path in pages:
        sign_in(client, user)
        before = current_position()
        html = client.get(path).content.decode()
        urls = set(re.findall(r'data-stream-url="([^"]*)"', html))
        assert urls, path
        for url in urls:
            match = re.fullmatch(r"/live/stream\?last_event_id=([^&]+)", url)
            assert match is not None, (path, url)
            assert before <= Cursor.parse(unquote(match.group(1))) <= current_position(), path


def test_another_agencys_or_an_unpublished_problem_page_is_404(client: Client, bob: User, carol: User,
                                                                lena: User) -> None:
    live = published(bob, bob, kind=Kind.PROBLEM)
    draft = approved(bob, bob, kind=Kind.PROBLEM)
    sign_in(client, carol)
    assert client.get(f"/learning/problems/{live.content_id}/").status_code == 404
    sign_in(client, lena)
    assert client.get(f"/learning/problems/{draft.content_id}/").status_code == 404
    assert client.get(f"/learning/lessons/{live.content_id}/").status_code == 404  # a problem, not a lesson
    sign_in(client, carol)
    assert client.get(f"/learning/review/versions/{live.id}/").status_code == 404


def test_pages_check_roles(client: Client, alice: User, lena: User) -> None:
    assert client.get("/learning/").status_code == 302  # sign in first
    sign_in(client, alice)
    assert client.get("/learning/").status_code == 403
    sign_in(client, lena)
    assert client.get("/learning/review/").status_code == 403


def test_a_reviewer_writes_a_draft_and_takes_it_to_live_from_the_pages(client: Client, bob: User, rita: User) -> None:
    sign_in(client, bob)
    response = client.post("/learning/review/new/", {"kind": "lesson", "title": "Sharps disposal",
                                                     "body": "Use the **sharps** container."})
    version = Version.objects.get(title="Sharps disposal")
    assert response["Location"] == f"/learning/review/versions/{version.id}/"
    client.post(f"/learning/review/versions/{version.id}/submit/")
    assert "Sharps disposal" in client.get("/learning/review/").content.decode()
    response = client.post(f"/learning/review/versions/{version.id}/review/", {"decision": "approve"}, follow=True)
    assert "another reviewer must review it" in response.content.decode()  # not one's own version
    sign_in(client, rita)
    client.post(f"/learning/review/versions/{version.id}/review/", {"decision": "approve", "comment": "@bob ok"})
    sign_in(client, bob)
    client.post(f"/learning/review/versions/{version.id}/publish/")
    page = client.get(f"/learning/review/versions/{version.id}/").content.decode()
    assert "<strong>sharps</strong>" in page
    assert "Unpublish (live: v1)" in page
    assert Content.objects.get(id=version.content_id).live_version_id == version.id


def test_a_refused_action_becomes_a_message_not_an_error(client: Client, bob: User) -> None:
    version = approved(bob, bob)
    sign_in(client, bob)
    response = client.post(f"/learning/review/versions/{version.id}/review/", {"decision": "approve"}, follow=True)
    assert response.status_code == 200
    assert "only a version in review can be reviewed" in response.content.decode()


def test_a_bad_draft_shows_the_form_again_with_the_error(client: Client, bob: User) -> None:
    sign_in(client, bob)
    response = client.post("/learning/review/new/", {"kind": "problem", "title": "No tests", "body": "x",
                                                     "tests": ""})
    assert response.status_code == 400
    assert "tests must not be empty" in response.content.decode()
    assert not Version.objects.exists()


def test_a_rollback_from_the_version_page(client: Client, bob: User) -> None:

    first = published(bob, bob, title="Falls v1")
    content = Content.objects.get(id=first.content_id)
    second = next_approved(content, bob, bob, "Falls v2", "newer")
    services.publish_version(second.id, bob)
    sign_in(client, bob)
    page = client.get(f"/learning/review/versions/{second.id}/").content.decode()
    assert f'<option value="{first.id}">v1' in page
    client.post(f"/learning/review/contents/{content.id}/rollback/", {"version_id": str(first.id)})
    assert Content.objects.get(id=content.id).live_version_id == first.id


def test_a_decision_without_its_required_comment_is_shown_beside_the_comment(client: Client, bob: User,
                                                                              rita: User) -> None:
    version = services.create_content(bob, Kind.LESSON, "Sharps disposal", "Use the container.")
    services.submit_for_review(version.id, bob)
    sign_in(client, rita)
    response = client.post(f"/learning/review/versions/{version.id}/review/", {"decision": "reject", "comment": " "})
    assert response.status_code == 400
    page = response.content.decode()
    assert '<p class="error" id="error-comment">' in page
    assert 'value="reject" required checked' in page
    assert Version.objects.get(id=version.id).status == "in_review"
