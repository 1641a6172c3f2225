"""The ops page: the agency's outbox figures and dead letters, the platform's queues and
workers (labelled as such), redrive and heal buttons; and the navigation every page shares.

Oscar runs ops at Harbor; Audrey audits there (she reads, never acts); Carol of Northside
must see none of Harbor's dead letters, pending events or runs, nor redrive them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import redis
from django.db import transaction
from django.test import Client

from core.accounts.models import Tenant, User
from core.ops import selectors
from core.ops.models import HealRun
from core.platform.roles import Role
from outbox import delivery
from outbox.emit import emit
from outbox.models import DeadLetter, OutboxEvent
from tests.helpers.outbox import deliver, row_of
from tests.helpers.people import make_user
from tests.helpers.web import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick_ping(monkeypatch: pytest.MonkeyPatch, broker: redis.Redis) -> None:
    """No worker runs in these tests: a short ping says so sooner. The test broker DB is empty."""
    monkeypatch.setattr(selectors, "PING_TIMEOUT_S", 0.2)


def signed_in(client: Client, user: User) -> Client:
    sign_in(client, user)
    return client


def dead_event(tenant: Tenant, key: str = "x") -> DeadLetter:
    """An event of `tenant` whose delivery failed for good."""
    with transaction.atomic():
        event = emit("test.effect_requested", aggregate_type="test", aggregate_id=key, payload={"key": key},
                     task="tests.record_effect", tenant_id=tenant.pk)
    outbox_id = row_of(event).id
    delivery.kill(outbox_id, "ValueError: boom", "Traceback ...")
    return DeadLetter.objects.get(outbox_id=outbox_id)


def figures(client: Client) -> dict[str, Any]:
    response = client.get("/ops/figures.json")
    assert response.status_code == 200
    return dict(response.json())


# --- the page and its figures -----------------------------------------------------------------------------


def test_the_ops_page_shows_the_agencys_figures_and_labels_the_platforms(client: Client, oscar: User) -> None:
    html = signed_in(client, oscar).get("/ops/").content.decode()
    assert "Harbor Home Health only" in html
    assert "platform-wide" in html
    for queue in ("interactive", "default", "batch"):
        assert f"Queue {queue}" in html
    assert "no worker answered" in html
    assert 'href="/admin/django_celery_beat/periodictask/"' in html
    assert 'aria-label="Search index: dry run"' in html


def test_queue_depths_are_read_from_the_broker(client: Client, oscar: User, broker: redis.Redis) -> None:
    broker.lpush("batch", "m1", "m2")
    broker.lpush("interactive", "m3")
    platform = figures(signed_in(client, oscar))["platform"]
    assert platform["queues"] == {"interactive": 1, "default": 0, "batch": 2}
    assert (platform["workers"], platform["broker_error"]) == ([], "")


def test_an_unreachable_broker_is_a_figure_not_an_error(client: Client, oscar: User, settings: Any) -> None:
    settings.REDIS_BROKER_URL = "redis://127.0.0.1:9/0"  # nothing listens on the discard port
    response = signed_in(client, oscar).get("/ops/")
    assert response.status_code == 200
    assert "broker unreachable" in response.content.decode()
    platform = figures(client)["platform"]
    assert (platform["queues"], platform["workers"]) == (None, None)
    assert platform["broker_error"].startswith("broker unreachable")


def test_pending_events_and_dead_letters_are_counted_for_the_agency_only(client: Client, oscar: User,
                                                                          carol: User) -> None:
    assert oscar.tenant is not None
    assert carol.tenant is not None
    with transaction.atomic():
        for n in range(3):
            emit("test.happened", aggregate_type="test", aggregate_id=str(n), payload={}, channel="c",
                 tenant_id=carol.tenant.pk)
        emit("test.happened", aggregate_type="test", aggregate_id="h", payload={}, channel="c",
             tenant_id=oscar.tenant.pk)
    dead_event(carol.tenant)
    agency = figures(signed_in(client, oscar))["agency"]
    assert (agency["pending"], agency["dead_letters"]) == (1, 0)
    assert agency["lag_s"] >= 0
    assert figures(signed_in(client, carol_ops(carol)))["agency"]["dead_letters"] == 1


def carol_ops(carol: User) -> User:
    """An ops colleague of Carol's at Northside."""
    return make_user("nils", carol.tenant, Role.OPS)


# --- dead letters --------------------------------------------------------------------------------------------


def test_ops_redrive_a_dead_letter_of_their_agency(client: Client, oscar: User) -> None:
    assert oscar.tenant is not None
    letter = dead_event(oscar.tenant)
    page = signed_in(client, oscar).get("/ops/").content.decode()
    assert f'aria-label="Redrive event {letter.outbox_id}"' in page
    response = client.post("/ops/dead-letters/redrive/", {"id": letter.id, "next": "/ops/"})
    assert (response.status_code, response["Location"]) == (302, "/ops/")
    letter.refresh_from_db()
    assert letter.redriven_by == oscar
    assert OutboxEvent.objects.get(id=letter.outbox_id).status == "pending"
    assert "1 of 1 dead event pending again" in client.get("/ops/").content.decode()


def test_redrive_all_sends_every_open_dead_letter_of_the_agency_and_no_other(client: Client, oscar: User,
                                                                             carol: User) -> None:
    assert oscar.tenant is not None
    assert carol.tenant is not None
    ours = [dead_event(oscar.tenant, "a"), dead_event(oscar.tenant, "b")]
    theirs = dead_event(carol.tenant, "c")
    signed_in(client, oscar).post("/ops/dead-letters/redrive/", {"all": "1"})
    assert all(DeadLetter.objects.get(id=d.id).redriven_at for d in ours)
    assert DeadLetter.objects.get(id=theirs.id).redriven_at is None


def test_another_agencys_dead_letter_is_neither_listed_nor_redriven(client: Client, oscar: User,
                                                                    carol: User) -> None:
    assert carol.tenant is not None
    theirs = dead_event(carol.tenant)
    signed_in(client, oscar)
    assert f"Redrive event {theirs.outbox_id}" not in client.get("/ops/").content.decode()
    response = client.post("/ops/dead-letters/redrive/", {"id": theirs.id}, follow=True)
    assert "No dead letter of your agency is waiting" in response.content.decode()
    assert DeadLetter.objects.get(id=theirs.id).redriven_at is None


@pytest.mark.parametrize("ids", [[], ["abc"], ["-1"], ["99999999999999999999"], ["1.5"]])
def test_a_bad_redrive_request_is_a_message_not_an_error(client: Client, oscar: User, ids: list[str]) -> None:
    response = signed_in(client, oscar).post("/ops/dead-letters/redrive/", {"id": ids}, follow=True)
    assert response.status_code == 200
    assert "Choose the dead letters to redrive." in response.content.decode()


# --- heals ---------------------------------------------------------------------------------------------------


def test_a_repair_follows_a_dry_run_of_the_same_heal(client: Client, oscar: User) -> None:
    signed_in(client, oscar)
    refused = client.post("/ops/heal/search_index/", {"dry_run": "0"}, follow=True)
    assert "Run a dry run of Search index first" in refused.content.decode()
    assert not HealRun.objects.exists()
    assert re.search(r'data-repair="search_index"[^>]*\sdisabled', client.get("/ops/").content.decode())

    client.post("/ops/heal/search_index/", {"dry_run": "1", "next": "/ops/"})
    assert figures(client)["dry_runs"] == {}  # queued, not finished: no repair yet
    deliver("ops.run_heal")
    dry = HealRun.objects.get()
    assert (dry.status, dry.dry_run) == ("succeeded", True)
    assert figures(client)["dry_runs"] == {"search_index": {"id": dry.id, "examined": 0, "repaired": 0}}
    assert not re.search(r'data-repair="search_index"[^>]*\sdisabled', client.get("/ops/").content.decode())

    client.post("/ops/heal/search_index/", {"dry_run": "0"})
    repair = HealRun.objects.exclude(id=dry.id).get()
    assert (repair.dry_run, repair.trigger, repair.actor) == (False, "page", oscar)
    assert client.post("/ops/heal/pending_gradings/", {"dry_run": "0"}).status_code == 302
    assert not HealRun.objects.filter(name="pending_gradings").exists()  # its own dry run first


def test_the_run_rows_show_status_live_and_refuse_no_input(client: Client, oscar: User) -> None:
    signed_in(client, oscar).post("/ops/heal/pending_gradings/", {"dry_run": "1"})
    for query in ("", "?limit=abc", "?limit=-5", "?limit=100000&details=1"):
        response = client.get(f"/ops/heal/rows{query}")
        assert response.status_code == 200
        assert 'data-status="queued"' in response.content.decode()


def test_an_unknown_heal_and_a_foreign_next_are_refused_politely(client: Client, oscar: User) -> None:
    response = signed_in(client, oscar).post("/ops/heal/nonsense/", {"dry_run": "1", "next": "https://evil.example/"})
    assert (response.status_code, response["Location"]) == (302, "/ops/heal/")
    assert "There is no heal &#x27;nonsense&#x27;" in client.get("/ops/heal/").content.decode()


# --- who may do what -----------------------------------------------------------------------------------------


def test_auditors_read_the_ops_page_but_have_no_buttons_and_cannot_post(client: Client, audrey: User) -> None:
    assert audrey.tenant is not None
    dead_event(audrey.tenant)
    page = signed_in(client, audrey).get("/ops/").content.decode()
    assert "Dead letters" in page
    assert "Redrive" not in page
    assert "data-repair" not in page
    assert client.post("/ops/dead-letters/redrive/", {"all": "1"}).status_code == 403
    assert client.post("/ops/heal/search_index/", {"dry_run": "1"}).status_code == 403


@pytest.mark.parametrize("path", ["/ops/", "/ops/figures.json", "/ops/heal/rows", "/ops/heal/"])
def test_other_roles_are_refused_and_strangers_sent_to_sign_in(client: Client, lena: User, alice: User,
                                                               path: str) -> None:
    assert client.get(path).status_code == 302
    for user in (lena, alice):
        assert signed_in(client, user).get(path).status_code == 403


# --- the navigation and the home page ------------------------------------------------------------------------


def nav_of(html: str) -> list[tuple[str, bool]]:
    nav = html.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    return [(label, bool(current)) for current, label in
            re.findall(r'<a href="[^"]+"( aria-current="page")?>([^<]+)</a>', nav)]


def test_the_navigation_lists_the_users_sections_and_marks_the_current_one(client: Client, oscar: User,
                                                                           audrey: User, bob: User,
                                                                           lena: User) -> None:
    assert nav_of(signed_in(client, oscar).get("/ops/").content.decode()) == [("Ops", True)]
    assert nav_of(signed_in(client, audrey).get("/audit/").content.decode()) == [("Audit", True)]
    assert nav_of(signed_in(client, lena).get("/learning/search/").content.decode()) == [
        ("Learn", False), ("Search", True)]
    assert nav_of(signed_in(client, bob).get("/learning/review/").content.decode()) == [
        ("Review", True), ("Learn", False), ("Search", False)]


def test_staff_see_the_admin_and_the_home_page_links_every_section(client: Client, harbor: Tenant) -> None:
    both = make_user("dora", harbor, Role.DISPATCHER, Role.OPS)
    both.is_staff = True
    both.save()
    html = signed_in(client, both).get("/").content.decode()
    assert nav_of(html) == [("Dispatch", False), ("Ops", False), ("Admin", False)]
    assert re.findall(r'<li><a href="([^"]+)"><strong>', html) == ["/dispatch/", "/ops/", "/admin/"]


def test_the_figures_are_json_round_trippable(client: Client, oscar: User) -> None:
    body = figures(signed_in(client, oscar))
    assert json.loads(json.dumps(body)) == body
    assert set(body) == {"at", "agency", "dry_runs", "platform"}
    assert set(client.get("/ops/figures.json?platform=0").json()) == {"at", "agency", "dry_runs"}
