"""Heal runs: triggered by the API, the ops page, the command and beat; each recorded with
who, when, what was examined and repaired; visible to the agency's ops and auditors only."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django_celery_beat.models import PeriodicTask

from core.accounts.models import User
from core.learning.models import SearchDocument
from core.ops import services
from core.ops.models import HealRun
from core.ops.tasks import request_scheduled_heal
from tests.helpers.learning import published
from tests.helpers.outbox import deliver, events_of, pending_tasks
from tests.helpers.web import sign_in

pytestmark = pytest.mark.django_db


def trigger(client: Client, user: User, name: str, data: dict[str, object] | None = None) -> Any:
    sign_in(client, user)
    return client.post(f"/api/ops/heal/{name}", data if data is not None else {}, content_type="application/json")


@pytest.fixture
def missing_document(bob: User) -> int:
    """A published Harbor lesson whose document never reached the index."""
    version = published(bob, bob, title="Hand hygiene")
    deliver()
    SearchDocument.objects.filter(content_id=version.content_id).delete()
    return version.content_id


def test_ops_trigger_a_heal_and_get_202_with_the_run_id(client: Client, oscar: User) -> None:
    response = trigger(client, oscar, "search_index")
    assert response.status_code == 202
    body = response.json()
    run = HealRun.objects.get(id=body["id"])
    assert (body["status"], body["dry_run"]) == ("queued", False)
    assert (run.trigger, run.actor, run.actor_label, run.tenant_id) == ("api", oscar, "oscar", oscar.tenant_id)
    [event] = pending_tasks("ops.run_heal")
    assert (event.queue, event.payload, event.tenant_id) == ("batch", {"run_id": run.id}, oscar.tenant_id)


def test_a_run_records_what_it_examined_and_repaired(client: Client, oscar: User, missing_document: int) -> None:
    run_id = trigger(client, oscar, "search_index").json()["id"]
    deliver("ops.run_heal")
    run = HealRun.objects.get(id=run_id)
    assert (run.status, run.examined, run.repaired, run.errors) == ("succeeded", 1, 1, 0)
    assert run.started_at is not None
    assert run.finished_at is not None
    assert run.started_at <= run.finished_at
    assert run.details == [{"tenant_id": oscar.tenant_id, "target": f"content:{missing_document}",
                            "gap": "missing", "action": "reindex"}]
    deliver("learning.reindex_content")
    assert SearchDocument.objects.filter(content_id=missing_document).exists()


def test_a_dry_run_records_what_it_would_do_and_emits_nothing(client: Client, oscar: User,
                                                              missing_document: int) -> None:
    run_id = trigger(client, oscar, "search_index", {"dry_run": True}).json()["id"]
    deliver("ops.run_heal")
    run = HealRun.objects.get(id=run_id)
    assert (run.status, run.dry_run, run.repaired) == ("succeeded", True, 1)
    assert events_of("search.repair_requested") == []
    assert not SearchDocument.objects.filter(content_id=missing_document).exists()


def test_an_unknown_heal_is_404_naming_it(client: Client, oscar: User) -> None:
    response = trigger(client, oscar, "everything")
    assert (response.status_code, response.json()["field"]) == (404, "name")
    assert not HealRun.objects.exists()


def test_ops_cannot_heal_another_agency(client: Client, oscar: User, carol: User) -> None:
    response = trigger(client, oscar, "search_index", {"tenant_id": carol.tenant_id})
    assert (response.status_code, response.json()["field"]) == (404, "tenant_id")
    assert trigger(client, oscar, "search_index", {"tenant_id": oscar.tenant_id}).status_code == 202


def test_a_bad_body_is_a_400_naming_the_field(client: Client, oscar: User) -> None:
    response = trigger(client, oscar, "search_index", {"dry_run": "perhaps"})
    assert (response.status_code, response.json()["field"]) == (400, "dry_run")


def test_auditors_read_runs_but_cannot_trigger_them(client: Client, oscar: User, audrey: User, lena: User) -> None:
    trigger(client, oscar, "pending_gradings")
    assert trigger(client, audrey, "pending_gradings").status_code == 403
    sign_in(client, audrey)
    [run] = client.get("/api/ops/heal-runs").json()
    assert (run["name"], run["trigger"], run["actor"], run["scope"]) == ("pending_gradings", "api", "oscar", "tenant")
    assert client.get(f"/api/ops/heal-runs/{run['id']}").status_code == 200
    sign_in(client, lena)
    assert client.get("/api/ops/heal-runs").status_code == 403


def test_another_agency_sees_none_of_the_runs_or_their_figures(client: Client, oscar: User, carol: User,
                                                               northside: object, missing_document: int) -> None:
    from core.platform.roles import Role
    from tests.helpers.people import make_user

    own_run = trigger(client, oscar, "search_index").json()["id"]
    platform_run = services.start_command_run("search_index", actor_label="command (test)")
    result, error = services.execute_heal(platform_run)
    services.finish_heal_run(platform_run.id, result, error)
    nadia = make_user("nadia", northside, Role.OPS)  # type: ignore[arg-type]
    sign_in(client, nadia)
    runs = client.get("/api/ops/heal-runs").json()
    assert [r["id"] for r in runs] == [platform_run.id]  # not Harbor's own run
    assert (runs[0]["scope"], runs[0]["examined"], runs[0]["repaired"], runs[0]["details"]) == ("platform", 0, 0, [])
    assert client.get(f"/api/ops/heal-runs/{own_run}").status_code == 404
    sign_in(client, oscar)
    harbor_view = client.get(f"/api/ops/heal-runs/{platform_run.id}").json()
    assert (harbor_view["examined"], harbor_view["repaired"]) == (1, 1)


def test_beat_requests_a_platform_wide_run_through_the_outbox(oscar: User, missing_document: int) -> None:
    run_id = request_scheduled_heal.apply(kwargs={"name": "search_index"}).result
    run = HealRun.objects.get(id=run_id)
    assert (run.trigger, run.actor_label, run.tenant_id, run.status) == ("beat", "beat", None, "queued")
    deliver("ops.run_heal")
    run.refresh_from_db()
    assert (run.status, run.repaired) == ("succeeded", 1)
    assert run.by_tenant == {str(oscar.tenant_id): {"examined": 1, "repaired": 1}}


@pytest.mark.usefixtures("beat_schedules")
def test_the_beat_schedules_are_seeded_and_run_on_the_batch_queue() -> None:
    schedules = {t.name: t for t in PeriodicTask.objects.filter(task="ops.request_heal")}
    assert set(schedules) == {"heal_search_index every 10 minutes", "heal_pending_gradings every 2 minutes",
                              "heal_reputation every day"}
    index = schedules["heal_search_index every 10 minutes"]
    assert json.loads(index.kwargs) == {"name": "search_index"}
    assert (index.interval.every, index.interval.period, index.queue, index.enabled) == (10, "minutes", "batch", True)
    assert json.loads(schedules["heal_pending_gradings every 2 minutes"].kwargs) == {"name": "pending_gradings"}
    nightly = schedules["heal_reputation every day"]
    assert json.loads(nightly.kwargs) == {"name": "reputation"}
    assert (nightly.interval.every, nightly.interval.period, nightly.queue) == (1, "days", "batch")


def test_a_duplicate_delivery_of_a_run_does_nothing(client: Client, oscar: User, missing_document: int) -> None:
    from tests.helpers.outbox import execute

    trigger(client, oscar, "search_index")
    [event] = pending_tasks("ops.run_heal")
    assert execute(event) == "succeeded"
    assert execute(event) is None
    assert len(events_of("search.repair_requested")) == 1


def test_a_failing_heal_is_recorded_as_failed(monkeypatch: pytest.MonkeyPatch, client: Client, oscar: User) -> None:
    from core.platform import heals

    def broken(**kwargs: object) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setitem(heals.HEALS, "search_index", broken)
    run_id = trigger(client, oscar, "search_index").json()["id"]
    deliver("ops.run_heal")
    run = HealRun.objects.get(id=run_id)
    assert (run.status, run.errors, run.error) == ("failed", 1, "RuntimeError: the database went away")


# --- the command ------------------------------------------------------------------------------------------


def test_the_command_dry_run_lists_what_it_would_repair(missing_document: int, harbor: object) -> None:
    out = io.StringIO()
    call_command("heal", "search_index", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "examined 1, would repair 1, errors 0" in text
    assert f"reindex content:{missing_document}" in text
    run = HealRun.objects.get()
    assert (run.trigger, run.dry_run, run.status) == ("command", True, "succeeded")
    assert run.actor_label.startswith("command (")
    assert events_of("search.repair_requested") == []


def test_the_command_repairs_and_can_be_scoped_to_a_tenant(missing_document: int, northside: object) -> None:
    out = io.StringIO()
    call_command("heal", "search_index", "--tenant", "northside", stdout=out)
    assert "examined 0, repaired 0" in out.getvalue()
    call_command("heal", "search_index", "--tenant", "harbor", stdout=out)
    assert len(events_of("search.repair_requested")) == 1


def test_the_command_refuses_an_unknown_tenant() -> None:
    with pytest.raises(CommandError, match="no tenant"):
        call_command("heal", "pending_gradings", "--tenant", "atlantis")
    assert not HealRun.objects.exists()


# --- the page ------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("beat_schedules")
def test_the_ops_page_lists_runs_and_triggers_a_dry_run(client: Client, oscar: User) -> None:
    sign_in(client, oscar)
    response = client.post("/ops/heal/search_index/", {"dry_run": "1"})
    assert response.status_code == 302
    run = HealRun.objects.get()
    assert (run.trigger, run.dry_run, run.actor) == ("page", True, oscar)
    page = client.get("/ops/heal/")
    assert page.status_code == 200
    assert b"dry run" in page.content
    assert b"heal_search_index every 10 minutes" in page.content


def test_auditors_see_the_page_without_buttons_and_cannot_post(client: Client, audrey: User) -> None:
    sign_in(client, audrey)
    page = client.get("/ops/heal/")
    assert page.status_code == 200
    assert b"Run a heal" not in page.content
    assert client.post("/ops/heal/search_index/", {"dry_run": "1"}).status_code == 403
