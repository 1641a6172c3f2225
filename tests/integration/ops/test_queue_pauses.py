"""Pausing queues is platform staff's (the command); every agency's Ops page shows it loudly;
each pause and resume is in the action log."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from core.accounts.models import Tenant, User
from core.ops.models import OpsAction, QueuePause
from core.ops.worker import paused_queues
from core.platform.roles import Role
from outbox.models import OutboxEvent
from tests.helpers.people import make_user
from tests.helpers.web import sign_in

pytestmark = pytest.mark.django_db


def test_a_pause_is_recorded_shown_on_every_agencys_ops_page_and_lifted_by_resume(
        client: Client, oscar: User, northside: Tenant, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("queues", "pause", "batch", "--reason", "disk swap")
    assert "queue batch paused" in capsys.readouterr().out
    for user in (oscar, make_user("olga", northside, Role.OPS)):
        sign_in(client, user)
        page = client.get("/ops/").content.decode()
        assert 'data-paused-queue="batch"' in page
        assert "Queue batch is paused" in page
        assert "disk swap" in page
        assert client.get("/ops/figures.json").json()["platform"]["paused_queues"] == ["batch"]
    call_command("queues", "list")
    listing = capsys.readouterr().out
    assert "batch: paused since" in listing
    assert "default: consuming" in listing
    call_command("queues", "resume", "batch")
    assert not QueuePause.objects.exists()
    assert "Queue batch is paused" not in client.get("/ops/").content.decode()
    actions = list(OpsAction.objects.filter(tenant__isnull=True).order_by("id").values_list("action", "target"))
    assert actions == [("pause", {"queue": "batch", "reason": "disk swap"}), ("resume", {"queue": "batch"})]
    assert [e.event_type for e in OutboxEvent.objects.filter(aggregate_type="queue").order_by("id")] == [
        "ops.queue_paused", "ops.queue_resumed"]


def test_unknown_queues_and_repeated_pauses_are_refused_clearly() -> None:
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("queues", "pause", "everything")
    with pytest.raises(CommandError, match="name the queue"):
        call_command("queues", "pause")
    call_command("queues", "pause", "default")
    with pytest.raises(CommandError, match="paused already"):
        call_command("queues", "pause", "default")
    call_command("queues", "resume", "default")
    with pytest.raises(CommandError, match="not paused"):
        call_command("queues", "resume", "default")
    assert OpsAction.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_workers_read_the_paused_queues_through_a_connection_of_their_own() -> None:
    call_command("queues", "pause", "interactive")
    assert paused_queues() == {"interactive"}
    call_command("queues", "resume", "interactive")
    assert paused_queues() == set()
