"""The published-document cache (core/learning/cache.py) on the real Redis cache DB: a second
read is a hit, a publish or rollback is seen at once (the pointer comes from PostgreSQL), the
consumer of the live-change events evicts what stopped being live, and a FLUSHDB or a cache
switched off changes nothing but where the document comes from."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache as django_cache
from django.test import Client
from django_redis import get_redis_connection

from core.accounts.models import User
from core.learning import cache, services
from core.learning.models import Content, Kind
from tests.helpers.learning import next_approved, published
from tests.helpers.outbox import deliver
from tests.helpers.web import sign_in

pytestmark = pytest.mark.django_db


def lookups() -> dict[str, int]:
    return dict(cache.STATS)


def page_title(client: Client, content_id: int) -> str:
    response = client.get(f"/learning/problems/{content_id}/")
    assert response.status_code == 200
    return str(response.context["document"].title)


@pytest.fixture
def learner(lena: User) -> Client:
    client = Client()
    sign_in(client, lena)
    return client


def test_the_second_read_is_served_from_redis(bob: User, learner: Client) -> None:
    version = published(bob, bob, kind=Kind.PROBLEM, title="Total daily dose")
    before = lookups()
    assert page_title(learner, version.content_id) == "Total daily dose"
    assert learner.get(f"/api/problems/{version.content_id}").json()["title"] == "Total daily dose"
    after = lookups()
    assert after.get("miss", 0) - before.get("miss", 0) == 1
    assert after.get("hit", 0) - before.get("hit", 0) == 1
    assert get_redis_connection("default").exists(django_cache.make_key(cache.document_key(version.id)))


def test_a_publish_and_a_rollback_are_seen_at_once_whatever_the_cache_holds(bob: User, rita: User,
                                                                           learner: Client) -> None:
    first = published(bob, rita, kind=Kind.PROBLEM, title="Dose, first take")
    assert page_title(learner, first.content_id) == "Dose, first take"  # now cached
    content = Content.objects.get(id=first.content_id)
    second = next_approved(content, bob, rita, "Dose, second take", "Twice a day.")
    services.publish_version(second.id, rita)
    assert page_title(learner, first.content_id) == "Dose, second take"  # no event consumed yet
    services.rollback_content(first.content_id, first.id, rita)
    assert page_title(learner, first.content_id) == "Dose, first take"
    services.unpublish_content(first.content_id, rita)
    assert learner.get(f"/learning/problems/{first.content_id}/").status_code == 404


def test_the_live_change_events_evict_the_versions_that_stopped_being_live(bob: User, rita: User,
                                                                         learner: Client) -> None:
    first = published(bob, rita, kind=Kind.PROBLEM, title="Dose, first take")
    page_title(learner, first.content_id)
    content = Content.objects.get(id=first.content_id)
    second = next_approved(content, bob, rita, "Dose, second take", "Twice a day.")
    services.publish_version(second.id, rita)
    page_title(learner, first.content_id)
    assert django_cache.get(cache.document_key(first.id)) is not None
    deliver("learning.index_content")
    assert django_cache.get(cache.document_key(first.id)) is None
    assert django_cache.get(cache.document_key(second.id)) is not None  # the live one stays


def test_a_flushed_or_switched_off_cache_changes_nothing_but_the_source(bob: User, learner: Client,
                                                                      settings: Any) -> None:
    version = published(bob, bob, kind=Kind.PROBLEM, title="Total daily dose")
    path = f"/learning/problems/{version.content_id}/"
    warm = learner.get(path).context["document"]
    assert "twenty seconds" in warm.body_html
    get_redis_connection("default").flushdb()
    before = lookups()
    assert learner.get(path).context["document"] == warm
    assert lookups().get("miss", 0) - before.get("miss", 0) == 1
    settings.LEARNING_CACHE = False
    assert learner.get(path).context["document"] == warm
    assert lookups().get("bypass", 0) - before.get("bypass", 0) == 1


def test_a_cached_document_is_never_shown_to_another_agency(bob: User, learner: Client, carol: User) -> None:
    version = published(bob, bob, kind=Kind.PROBLEM, title="Total daily dose")
    page_title(learner, version.content_id)  # cached now
    northside = Client()
    sign_in(northside, carol)
    assert northside.get(f"/learning/problems/{version.content_id}/").status_code == 404
    assert northside.get(f"/api/problems/{version.content_id}").status_code == 404
    assert northside.get(f"/learning/lessons/{version.content_id}/").status_code == 404  # not a lesson either
