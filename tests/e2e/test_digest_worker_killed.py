"""A worker killed in the middle of mailing a digest (real relay, real workers, a real SMTP server
that keeps the message and then waits before answering): the person gets the digest once, the
redelivered event sends nothing more, and the digest is settled as uncertain (adr/0019)."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from core.accounts.models import User
from core.learning import digests, services
from core.learning.models import Digest, Kind, Notification
from outbox.models import OutboxEvent
from tests.helpers.mail import MailServer
from tests.helpers.processes import processes, start_beat, start_relay, start_worker, wait_until

pytestmark = pytest.mark.usefixtures("outbox_db", "broker")


def test_a_worker_killed_mid_send_mails_the_digest_once_and_never_again(
        log_dir: Path, tmp_path: Path, settings: Any, rita: User, lena: User) -> None:
    server = MailServer(tmp_path, "tests.support.slow_smtp.SlowMailbox", "60")
    settings.DIGEST_LOCAL_HOUR = 0  # every local morning has come
    # Only so that the killed delivery comes back within seconds (the chaos run's settings, here
    # and for beat below); otherwise the sweep would wait for the task's hard time limit plus
    # the grace, and run once a minute.
    settings.OUTBOX_REDELIVER_AFTER_MAX_S = 3
    # Beat runs only the sweep, as its migration seeds it (earlier tests of a run may have flushed
    # or disabled the schedules of the shared test database); the test plans the digest itself.
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    sweep, _ = PeriodicTask.objects.update_or_create(name="outbox: redeliver stalled events", defaults={
        "task": "outbox.sweep_stalled", "interval": every_minute, "enabled": True})
    PeriodicTask.objects.exclude(id=sweep.id).update(enabled=False)
    lena.email = "lena@harbor.example"
    lena.save(update_fields=["email"])
    digests.set_digest_frequency(lena, "daily")
    version = services.create_content(rita, Kind.LESSON, "Hand hygiene", "Wash hands.")
    assert lena.tenant_id is not None
    Notification.objects.create(tenant_id=lena.tenant_id, recipient=lena, reason="reply", source="test:1",
                                version=version, message="Rita replied about Hand hygiene")
    relay = start_relay(log_dir)
    worker = start_worker(log_dir, EMAIL_PORT=str(server.port), EMAIL_TIMEOUT="120")
    beat = start_beat(log_dir, BEAT_MAX_INTERVAL_S="5")  # its sweep redelivers the killed delivery
    with processes(relay, worker, beat, server.process):
        assert digests.plan_digests(datetime.now(UTC)).planned == 1
        digest = Digest.objects.get(user=lena)
        wait_until(lambda: server.messages("lena@harbor.example"), 60, 0.05, "the SMTP server to keep the digest")
        # The server has the message and has not answered yet: the worker is still waiting.
        assert Digest.objects.get(id=digest.id).status == Digest.Status.SENDING
        worker.signal(signal.SIGKILL)
        worker.popen.wait(10)
        worker.restart()  # what a supervisor does

        def settled() -> bool:
            return Digest.objects.get(id=digest.id).status != Digest.Status.SENDING

        wait_until(settled, 90, 0.2, "the redelivered event to settle the digest")
        (event,) = OutboxEvent.objects.filter(event_type="learning.digest_due")
        wait_until(lambda: OutboxEvent.objects.get(id=event.id).status == "completed", 30, 0.2,
                   "the redelivered event to complete")
        time.sleep(3)  # a further delivery, if any, would have mailed by now
        assert Digest.objects.get(id=digest.id).status == Digest.Status.UNCERTAIN
        assert OutboxEvent.objects.get(id=event.id).attempts >= 2  # it was delivered again, and sent nothing
        assert len(server.messages("lena@harbor.example")) == 1
