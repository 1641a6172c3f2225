"""One chaos run: start the topology, load it, break it on schedule, let it heal, count losses."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.chaos import checks
from bench.chaos.faults import KINDS, Injector, schedule
from bench.chaos.load import TESTS, Actor, ApiClient, Dispatcher, Learner, Ledger, Outcome, Reviewer, ok
from bench.chaos.topology import Topology

Say = Callable[[str], None]


@dataclass(frozen=True)
class ChaosConfig:
    load_s: float
    per_kind: int
    seed: int
    recovery_s: float
    contents: int = 6


def quick(seed: int) -> ChaosConfig:
    """Under a minute of load, every fault kind once (for CI)."""
    return ChaosConfig(load_s=55, per_kind=1, seed=seed, recovery_s=150, contents=4)


def full(minutes: float, seed: int) -> ChaosConfig:
    per_kind = max(2, int(minutes * 60 // (6 * 40)))  # every kind at least twice, ~40 s apart
    return ChaosConfig(load_s=minutes * 60, per_kind=per_kind, seed=seed, recovery_s=300)


# --- setting the stage through the public API ------------------------------------------------------


def create_content(author: ApiClient, approver: ApiClient, kind: str, index: int) -> int:
    """A new lesson or problem, reviewed by a colleague and published; returns its id."""
    body = {"title": f"Chaos {kind} {index}", "body": f"Checklist {index}: wash, glove, dress, record.",
            "tests": TESTS if kind == "problem" else ""}
    created = author.call("POST", f"/api/{kind}s", json=body)
    if not ok(created, 201):
        raise RuntimeError(f"could not create a {kind}: {created and created.text}")
    assert created is not None
    version = created.json()
    steps = [(author, f"/api/versions/{version['id']}/submit", {}),
             (approver, f"/api/versions/{version['id']}/review", {"decision": "approve", "comment": "ok"}),
             (author, f"/api/versions/{version['id']}/publish", {})]
    for client, path, payload in steps:
        response = client.call("POST", path, json=payload)
        if not ok(response, 200, 201):
            raise RuntimeError(f"{path} failed: {response and response.text}")
    content_id: int = version["content_id"]
    author.ledger.live[content_id] = Outcome(accepted=version["id"])
    return content_id


def sign_in_approver(topology: Topology, ledger: Ledger) -> ApiClient:
    """A second reviewer approves (self-approval may be refused); the first if there is none."""
    try:
        return ApiClient(topology.base_url, "ruth", ledger)
    except RuntimeError:
        return ApiClient(topology.base_url, "bob", ledger)


def stage(topology: Topology, ledger: Ledger, rng: random.Random, config: ChaosConfig,
          stop: threading.Event) -> tuple[list[Actor], list[ApiClient]]:
    alice, bob, lena = (ApiClient(topology.base_url, name, ledger) for name in ("alice", "bob", "lena"))
    approver = sign_in_approver(topology, ledger)
    day = dt.date.today()
    visits = alice.call("GET", "/api/dispatch/visits", params={"date": day.isoformat()})
    visit_ids = [v["id"] for v in visits.json()] if ok(visits) and visits is not None else []
    if not visit_ids:
        raise RuntimeError("the demo day has no visits to edit")
    contents = []
    for index in range(config.contents):
        kind = "problem" if index % 2 == 0 else "lesson"
        content_id = create_content(bob, approver, kind, index)
        contents.append(content_id)
        if kind == "problem":
            ledger.problems.add(content_id)
    common = {"stop": stop}
    actors: list[Actor] = [
        Dispatcher(alice, day, visit_ids, rng=random.Random(rng.random()), pace_s=0.15, **common),
        Reviewer(bob, approver, contents, rng=random.Random(rng.random()), pace_s=0.4, **common),
        Learner(lena, rng=random.Random(rng.random()), pace_s=0.3, **common),
    ]
    return actors, [alice, bob, lena, approver]


# --- after the load ------------------------------------------------------------------------------


def quiescent(db: psycopg.Connection[Any]) -> bool:
    row = db.execute("""
        SELECT (SELECT count(*) FROM outbox_event WHERE status IN ('pending', 'relayed'))
             + (SELECT count(*) FROM learning_submission WHERE status IN ('queued', 'running'))
             + (SELECT count(*) FROM dispatch_optimizejob WHERE status IN ('queued', 'running'))""").fetchone()
    return row is not None and row[0] == 0


def recover(topology: Topology, seconds: float, say: Say) -> None:
    """Restart what is dead; sweep and heal until everything settled.

    Waiting out every redelivery deadline would take minutes; instead relayed events older
    than 15 s have their deadline moved to now, as if the minutes had passed.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if dead := topology.ensure_running():
            say(f"  restarted {', '.join(dead)}")
        with psycopg.connect(topology.database_url, autocommit=True) as db:
            db.execute("UPDATE outbox_event SET redeliver_at = now() "
                       "WHERE status = 'relayed' AND relayed_at < now() - interval '15 seconds'")
        topology.manage("outbox_sweep")
        topology.manage("heal", "search_index")
        topology.manage("heal", "pending_gradings")
        time.sleep(5)
        with psycopg.connect(topology.database_url, autocommit=True) as db:
            if quiescent(db):
                return
    say("  recovery time is up: what is still unsettled is reported as lost")


def duplicates_absorbed(topology: Topology) -> int:
    """Deliveries a worker found in the inbox already and ignored (each says so in its log)."""
    return sum(p.output().count("outbox.duplicate_delivery_ignored")
               for name, p in topology.processes.items() if name.startswith("worker"))


def redeliveries(topology: Topology) -> int:
    """Task deliveries beyond the first: the sweep's redeliveries of lost messages, and retries."""
    with psycopg.connect(topology.database_url, autocommit=True) as db:
        row = db.execute("SELECT coalesce(sum(attempts - 1), 0) FROM outbox_log "
                         "WHERE task_name IS NOT NULL AND attempts > 1").fetchone()
    return int(row[0]) if row else 0


def heal_repairs(topology: Topology) -> int:
    with psycopg.connect(topology.database_url, autocommit=True) as db:
        row = db.execute("SELECT coalesce(sum(repaired), 0) FROM ops_healrun WHERE NOT dry_run").fetchone()
    return int(row[0]) if row else 0


# --- the run ---------------------------------------------------------------------------------------


def run(config: ChaosConfig, say: Say) -> tuple[int, int, int]:
    """Returns (lost, duplicates_absorbed, repairs) after printing the report."""
    topology = Topology()
    rng = random.Random(config.seed)
    say(f"chaos run: seed {config.seed}, {config.load_s:.0f} s of load, faults {', '.join(KINDS)} "
        f"x{config.per_kind}; servers and logs in {topology.root}")
    try:
        topology.prepare()
        topology.start_processes()
        topology.wait_for_web()
        say(f"topology up: web {topology.base_url}, PostgreSQL :{topology.pg_port}, Redis :{topology.redis_port}")
        ledger, stop = Ledger(), threading.Event()
        actors, clients = stage(topology, ledger, rng, config, stop)
        injector = Injector(topology, schedule(config.load_s, rng, config.per_kind), rng)
        for actor in actors:
            actor.start()
        injector.start()
        started = time.monotonic()
        while time.monotonic() - started < config.load_s:
            time.sleep(min(15, config.load_s - (time.monotonic() - started)))
            say(f"  {time.monotonic() - started:4.0f} s: {ledger.requests} requests, {ledger.writes_accepted} "
                f"writes accepted, faults {dict(injector.counts())}")
        stop.set()
        for actor in actors:
            actor.join(30)
        injector.join()
        for client in clients:
            client.close()
        say("load stopped; recovering (sweep, heals)")
        recover(topology, config.recovery_s, say)
        return report(topology, ledger, injector, actors, say)
    finally:
        topology.stop()


def report(topology: Topology, ledger: Ledger, injector: Injector, actors: list[Actor],
           say: Say) -> tuple[int, int, int]:
    with psycopg.connect(topology.database_url, autocommit=True) as db:
        losses = {name: check(db) for name, check in checks.CHECKS.items()}
        losses["accepted writes persisted"] = checks.accepted_writes_persisted(db, ledger)
        row = db.execute("SELECT count(*) FROM outbox_log").fetchone()
        events = int(row[0]) if row else 0
    losses["no 5xx outside PostgreSQL restarts"] = checks.server_errors_outside_windows(
        ledger, injector.postgres_windows())
    duplicates = duplicates_absorbed(topology)
    redelivered, healed = redeliveries(topology), heal_repairs(topology)
    repairs = redelivered + healed
    lost = sum(len(items) for items in losses.values())
    counts = injector.counts()
    lines = [
        ("requests sent", ledger.requests),
        ("writes accepted (2xx)", ledger.writes_accepted),
        ("invalid writes sent (must be 4xx)", ledger.invalid_writes),
        ("answers lost (connection errors)", len(ledger.transport_errors)),
        ("5xx answers (all)", len(ledger.server_errors)),
        ("events emitted", events),
        *((f"faults: {kind}", counts.get(kind, 0)) for kind in KINDS),
        ("duplicates absorbed", duplicates),
        ("redeliveries (sweep, retries)", redelivered),
        ("repairs by heal jobs", healed),
    ]
    say("")
    for label, value in lines:
        say(f"  {label:<38} {value:>8}")
    for fault in injector.done:
        say(f"  fault at {dt.datetime.fromtimestamp(fault.started, dt.UTC):%H:%M:%S}: {fault.kind}: {fault.detail}")
    for error in injector.errors + [f"{a.name}: {f}" for a in actors for f in a.failures[:3]]:
        say(f"  note: {error}")
    for name, items in losses.items():
        say(f"  {'ok  ' if not items else 'LOST'} {name}" + (f": {len(items)}" if items else ""))
        for item in items[:20]:
            say(f"         {item}")
    say(f"lost={lost} duplicates_absorbed={duplicates} repairs={repairs}")
    return lost, duplicates, repairs
