"""Every process observable: a worker, the web and a beat, each on its metrics port, beside the
relay. Oscar (Harbor's ops) runs a heal from the API while his live stream is open; beat sends a
task every second, one that succeeds and one that fails; three effect events go through the
outbox (one delivered twice, one that fails once, one that never succeeds); a lost search
document is repaired by a platform-wide heal. Each endpoint then says so, in output that
`promtool check metrics` accepts, and the Grafana dashboard and the alert rules ask only for
metrics these endpoints export."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
import yaml
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from prometheus_client.parser import text_string_to_metric_families

from core.accounts.models import User
from core.learning.models import SearchDocument
from core.ops import services as ops
from core.ops.models import HealRun
from tests.helpers.learning import published
from tests.helpers.outbox import emit_effect
from tests.helpers.processes import (
    ROOT,
    Process,
    free_port,
    processes,
    start_beat,
    start_relay,
    start_web,
    start_worker,
    wait_until,
)
from tests.helpers.web import call, cookies_of, open_stream

pytestmark = pytest.mark.usefixtures("outbox_db")

DASHBOARD = ROOT / "docker" / "grafana" / "ferry.json"
ALERTS = ROOT / "docker" / "prometheus" / "alerts.yml"
EFFECT = "tests.record_effect"


def scrape(port: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when none)."""
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name and labels.items() <= sample.labels.items())


def label_values(text: str, name: str, label: str) -> set[str]:
    return {sample.labels[label] for family in text_string_to_metric_families(text) for sample in family.samples
            if sample.name == name and label in sample.labels}


def exported_names(text: str) -> set[str]:
    """Every series name the output declares, also those with no sample yet."""
    names: set[str] = set()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    for family in text_string_to_metric_families(text):
        names |= {family.name + suffix for suffix in suffixes.get(family.type, ("",))}
        names |= {sample.name for sample in family.samples}
    return names


def promtool_accepts(text: str) -> None:
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True,
                             check=False, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.fixture
def every_second() -> None:
    """Beat sends tests.record_tenant every second twice over: once to succeed, once to fail (the
    seeded schedules switched off, so the beat's metrics are about these two)."""
    PeriodicTask.objects.update(enabled=False)
    schedule = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="test: tick", task="tests.record_tenant", interval=schedule,
                                kwargs=json.dumps({"tenant_id": None}))
    PeriodicTask.objects.create(name="test: tick that fails", task="tests.record_tenant", interval=schedule,
                                kwargs=json.dumps({"tenant_id": None, "fail": True}))


@pytest.fixture
def ports() -> dict[str, int]:
    return {name: free_port() for name in ("relay", "web", "worker", "beat")}


@pytest.fixture
def stack(log_dir: Path, ports: dict[str, int], every_second: None) -> Iterator[tuple[Process, str]]:
    """Relay, web and beat with their metrics ports; the web and its base URL."""
    relay = start_relay(log_dir, "relay", "--metrics-port", str(ports["relay"]))
    web, url = start_web(log_dir, WEB_METRICS_PORT=str(ports["web"]))
    beat = start_beat(log_dir, BEAT_METRICS_PORT=str(ports["beat"]))
    with processes(relay, web, beat):
        yield web, url


def queued_message(broker: redis.Redis, task: str) -> bytes | None:
    """The raw message of `task` waiting in the default queue, if one is."""
    for raw in broker.lrange("default", 0, -1):
        if json.loads(raw)["headers"]["task"] == task:
            return raw.encode() if isinstance(raw, str) else raw
    return None


def status_of(url: str, path: str) -> int:
    """The status of an anonymous GET (the body is not read as JSON: a 404 page is HTML)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=10)
    connection.request("GET", path)
    status = connection.getresponse().status
    connection.close()
    return status


def test_worker_web_beat_and_relay_each_report_what_they_did(
        log_dir: Path, broker: redis.Redis, stack: tuple[Process, str], ports: dict[str, int],
        oscar: User, bob: User) -> None:
    started = time.time()
    _, url = stack
    # Delivered twice: the relayed message is copied in the queue before any worker runs.
    emit_effect("twice")
    raw = wait_until(lambda: queued_message(broker, EFFECT), 20, message="the relayed effect message")
    broker.lpush("default", raw)

    worker = start_worker(log_dir, concurrency=2, WORKER_METRICS_PORT=str(ports["worker"]))
    with processes(worker):
        emit_effect("fails once", {"fail_attempts": 1})
        emit_effect("never", {"fail_attempts": 99})  # max_retries=2: three executions, then dead

        # Oscar runs Harbor's search index heal from the API, with his live stream open.
        cookies = cookies_of(oscar)
        stream = open_stream(url, cookies)
        status, accepted = call(url, cookies, "POST", "/api/ops/heal/search_index", {})
        assert status == 202, accepted
        run_id = accepted["id"]
        wait_until(lambda: HealRun.objects.get(id=run_id).status == "succeeded", 30, message="Harbor's heal run")
        assert call(url, cookies, "GET", f"/api/ops/heal-runs/{run_id}")[0] == 200
        assert status_of(url, "/harbor/no-such-page/42") == 404
        assert status_of(url, "/live/stream") == 401  # not signed in
        web_text = scrape(ports["web"])
        assert value(web_text, "ferry_live_streams_open") == 1
        stream.close()

        # A search document is lost; the platform-wide heal (as beat requests it) repairs it.
        lesson = published(bob, bob, title="Hand hygiene", body="Wash for twenty seconds.")
        wait_until(lambda: SearchDocument.objects.filter(content_id=lesson.content_id).exists(), 30,
                   message="the lesson indexed")
        SearchDocument.objects.filter(content_id=lesson.content_id).delete()
        platform_run = ops.request_heal("search_index", trigger="beat")
        wait_until(lambda: HealRun.objects.get(id=platform_run.id).status == "succeeded", 30,
                   message="the platform-wide heal run")
        assert HealRun.objects.get(id=platform_run.id).repaired == 1

        def worker_done() -> str:  # the failure is counted a moment before its duration is observed
            text = scrape(ports["worker"])
            done = (value(text, "ferry_worker_tasks_failed_total", task=EFFECT) == 1
                    and value(text, "ferry_worker_task_duration_seconds_count", task=EFFECT) == 7)
            return text if done else ""

        worker_text = wait_until(worker_done, 30, message="the effect that never succeeds to be dead-lettered")
        wait_until(lambda: SearchDocument.objects.filter(content_id=lesson.content_id).exists(), 30,
                   message="the repair indexed")

        def relay_refreshed() -> str:
            text = scrape(ports["relay"])
            return text if value(text, "ferry_heal_last_run_repairs", heal="search_index") == 1 else ""

        relay_text = wait_until(relay_refreshed, 15, message="the relay's stats refresh")  # every 5 s
        web_text = scrape(ports["web"])
        beat_text = scrape(ports["beat"])

    # The worker: counted in its pool's children, served by its main process.
    effect = {"task": EFFECT, "queue": "default"}
    assert value(worker_text, "ferry_worker_tasks_received_total", **effect) == 7  # 2 + 2 + 3
    assert value(worker_text, "ferry_worker_tasks_succeeded_total", **effect) == 3  # both of "twice", one retry
    assert value(worker_text, "ferry_worker_tasks_retried_total", **effect) == 3
    assert value(worker_text, "ferry_worker_tasks_failed_total", **effect) == 1
    assert value(worker_text, "ferry_worker_duplicate_deliveries_total", task=EFFECT) == 1
    assert value(worker_text, "ferry_worker_task_duration_seconds_count", task=EFFECT) == 7
    assert value(worker_text, "ferry_worker_tasks_succeeded_total", task="ops.run_heal", queue="batch") == 2
    assert value(worker_text, "ferry_worker_tasks_succeeded_total", task="tests.record_tenant") >= 1
    assert value(worker_text, "ferry_worker_tasks_failed_total", task="tests.record_tenant") >= 1

    # The web: route patterns, never paths (no ids, no tenant's words).
    heal_route = {"route": "api/ops/heal/<name>", "method": "POST", "status": "202"}
    assert value(web_text, "ferry_http_requests_total", **heal_route) == 1
    assert value(web_text, "ferry_http_requests_total", route="unmatched", status="404") == 1
    assert value(web_text, "ferry_http_request_duration_seconds_count", route="api/ops/heal/<name>") == 1
    routes = label_values(web_text, "ferry_http_requests_total", "route")
    assert not [route for route in routes if str(run_id) in route or "harbor" in route], routes
    assert value(web_text, "ferry_live_streams_open") == 0
    assert value(web_text, "ferry_live_stream_refusals_total", status="401") == 1

    # The beat leads, and sent both schedules within the test.
    assert value(beat_text, "ferry_beat_leader") == 1
    assert value(beat_text, "ferry_beat_last_send_timestamp_seconds", schedule="test: tick") >= started

    assert value(relay_text, "ferry_heal_last_run_timestamp_seconds", heal="search_index") >= started

    texts = {"worker": worker_text, "web": web_text, "beat": beat_text, "relay": relay_text}
    for text in texts.values():
        promtool_accepts(text)
    exported = set().union(*(exported_names(text) for text in texts.values()))
    assert_dashboard_and_alerts_use_only(exported)


FERRY_NAME = re.compile(r"\bferry_[a-z0-9_]+")


def assert_dashboard_and_alerts_use_only(exported: set[str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert panels
    unknown: dict[str, set[str]] = {}
    for panel in panels:
        exprs = [target["expr"] for target in panel.get("targets", [])]
        assert exprs or panel["type"] == "row", panel["title"]
        for expr in exprs:
            if missing := set(FERRY_NAME.findall(expr)) - exported:
                unknown[f"panel {panel['title']!r}"] = missing
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        for rule in group["rules"]:
            if missing := set(FERRY_NAME.findall(rule["expr"])) - exported:
                unknown[f"alert {rule['alert']}"] = missing
    assert not unknown, unknown
