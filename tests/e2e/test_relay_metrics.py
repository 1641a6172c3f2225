"""The relay's metrics as Prometheus scrapes them: what waits in the outbox (by event type),
in each Celery queue, and as dead letters; the output passes `promtool check metrics`, and the
shipped alert rules pass `promtool check rules` and their own `promtool test rules`, and the scrape
configuration `promtool check config`."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

import pytest
import redis
from django.db import connection

from tests.helpers.outbox import emit_effects
from tests.helpers.processes import ROOT, free_port, processes, start_relay, wait_until

pytestmark = pytest.mark.usefixtures("outbox_db")

RULES = ROOT / "docker" / "prometheus"


def scrape(port: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def promtool(*args: str, stdin: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], input=stdin, capture_output=True, text=True, cwd=cwd,
                          check=False, timeout=60)


def test_the_relay_says_what_waits_where_and_promtool_accepts_it(log_dir: Path, broker: redis.Redis) -> None:
    port = free_port()
    # A queue bound of two: the rest of the events wait, due, in PostgreSQL (the lag by type).
    relay = start_relay(log_dir, "relay", "--metrics-port", str(port), RELAY_MAX_QUEUED="2")
    with processes(relay):
        ids = emit_effects([f"m{i}" for i in range(6)])
        with connection.cursor() as cursor:  # one of them died (as the consumer would record it)
            cursor.execute("UPDATE outbox_event SET status = 'dead' WHERE id = %s", [ids[-1]])
        wait_until(lambda: broker.llen("default") == 2, 10, message="the queue at its bound")

        def refreshed() -> str:
            text = scrape(port)
            return text if 'ferry_queue_messages{queue="default"} 2.0' in text else ""

        text = wait_until(refreshed, 15, message="a stats refresh")  # every 5 s
    lines = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
             if line and not line.startswith("#")}
    assert lines["ferry_outbox_dead_events"] == 1
    assert lines["ferry_outbox_due_events"] == 3
    assert lines['ferry_outbox_event_type_lag_seconds{event_type="test.effect_requested"}'] > 0
    assert lines['ferry_queue_messages{queue="interactive"}'] == 0
    checked = promtool("check", "metrics", stdin=text)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_alert_rules_are_valid_and_fire_when_they_should() -> None:
    checked = promtool("check", "rules", "alerts.yml", cwd=RULES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "alerts.test.yml", cwd=RULES)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    configured = promtool("check", "config", "prometheus.yml", cwd=RULES)  # the scrape config, with the rules
    assert configured.returncode == 0, configured.stdout + configured.stderr
