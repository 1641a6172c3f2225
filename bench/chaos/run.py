"""One chaos run: start the topology, load it, break it on schedule, let it heal, count losses."""

from __future__ import annotations

import datetime as dt
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.chaos import checks
from bench.chaos.faults import KINDS, QUICK_KINDS, Fault, Injector, schedule
from bench.chaos.load import TESTS, Actor, ApiClient, Dispatcher, Learner, Ledger, Outcome, Reviewer, ok
from bench.chaos.supervisor import Supervisor
from bench.chaos.topology import SCHEDULE_CAP_S, Topology

Say = Callable[[str], None]

# Settled means still settled this long later: the heals come round twice meanwhile.
SETTLED_FOR_S = 2 * SCHEDULE_CAP_S + 1


@dataclass(frozen=True)
class ChaosConfig:
    load_s: float
    per_kind: int
    seed: int
    settle_s: float
    kinds: tuple[str, ...] = KINDS
    partition_s: float = 20.0
    contents: int = 6


def quick(seed: int) -> ChaosConfig:
    """About a minute of load, a few fault kinds once, a partition and a flush among them (for CI)."""
    return ChaosConfig(load_s=60, per_kind=1, seed=seed, settle_s=180, kinds=QUICK_KINDS, partition_s=10,
                       contents=4)


def full(minutes: float, seed: int) -> ChaosConfig:
    """Every kind at least twice over the load."""
    per_kind = max(2, int(minutes * 60 // (len(KINDS) * 30)))
    return ChaosConfig(load_s=minutes * 60, per_kind=per_kind, seed=seed, settle_s=300)


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
    # Two of each, each on objects of its own (the ledger knows every object's last write):
    # enough load that the queues hold work when a fault strikes.
    alice_2, bob_2, lena_2 = (ApiClient(topology.base_url, name, ledger) for name in ("alice", "bob", "lena"))
    approver_2 = sign_in_approver(topology, ledger)

    def pace(seconds: float) -> dict[str, Any]:
        return {"stop": stop, "rng": random.Random(rng.random()), "pace_s": seconds}

    actors: list[Actor] = [
        Dispatcher(alice, day, visit_ids[0::2], **pace(0.15)),
        Dispatcher(alice_2, day, visit_ids[1::2], **pace(0.15)),
        Reviewer(bob, approver, contents[0::2], **pace(0.4)),
        Reviewer(bob_2, approver_2, contents[1::2], **pace(0.4)),
        Learner(lena, **pace(0.3)),
        Learner(lena_2, **pace(0.3)),
    ]
    return actors, [alice, bob, lena, alice_2, bob_2, lena_2, approver, approver_2]


# --- after the load ------------------------------------------------------------------------------


def quiescent(db: psycopg.Connection[Any]) -> bool:
    row = db.execute("""
        SELECT (SELECT count(*) FROM outbox_event WHERE status IN ('pending', 'relayed'))
             + (SELECT count(*) FROM learning_submission WHERE status IN ('queued', 'running'))
             + (SELECT count(*) FROM dispatch_optimizejob WHERE status IN ('queued', 'running'))
             + (SELECT count(*) FROM ops_healrun WHERE status IN ('queued', 'running'))""").fetchone()
    return row is not None and row[0] == 0


def settle(topology: Topology, seconds: float) -> float | None:
    """Wait, touching nothing, until the system settled by itself (beat's sweeps and heals, the
    supervisor's restarts): nothing in flight and every derived state right, and still so
    SETTLED_FOR_S later (long enough for the heals to come round once more). The wall-clock time
    it settled, or None if it did not within `seconds`."""
    deadline = time.monotonic() + seconds
    settled_at: float | None = None
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(topology.database_url, autocommit=True, connect_timeout=3) as db:
                calm = quiescent(db) and not any(check(db) for check in checks.DERIVED.values())
        except psycopg.Error:
            calm = False
        if not calm:
            settled_at = None
        elif settled_at is None:
            settled_at = time.time()
        elif time.time() - settled_at >= SETTLED_FOR_S:
            return settled_at
        time.sleep(1)
    return None


def duplicates_absorbed(topology: Topology) -> int:
    """Deliveries a worker found in the inbox already and ignored (each says so in its log)."""
    return sum(p.output().count("outbox.duplicate_delivery_ignored")
               for name, p in topology.processes.items() if name.startswith("worker"))


def beat_sends(topology: Topology) -> Counter[str]:
    """Periodic tasks beat sent, by schedule name (from its log)."""
    return Counter(re.findall(r"Scheduler: Sending due task (.+?) \(", topology.processes["beat"].output()))


def forced(topology: Topology) -> list[str]:
    """Everything done to the system by hand once the load began: commands the harness ran, and
    heal runs that beat did not start. Recovery by the system's own schedules leaves this empty."""
    with psycopg.connect(topology.database_url, autocommit=True) as db:
        runs = db.execute("SELECT id, name, trigger FROM ops_healrun WHERE trigger <> 'beat'").fetchall()
    return topology.forced + [f"heal run {i} of {name} started by {trigger}" for i, name, trigger in runs]


@dataclass
class Repairs:
    """What the system repaired after each fault: deliveries the sweep made again, heal repairs."""

    by_sweep: Counter[str]
    by_heal: Counter[str]


def attribute(topology: Topology, faults: list[Fault]) -> Repairs:
    """Charge each repair to the fault that caused it. An event whose message a fault removed
    from Redis (its id was among the messages flushed or killed) is that fault's; any other
    event's extra deliveries (beyond its retries) go, by time, to the fault under way when it was
    created, or else the first one after. A heal run's repairs go to the last fault before it."""
    injected = sorted((f for f in faults if f.injected), key=lambda f: f.started)
    dropped_by = {event: f.kind for f in injected for event in f.lost_events}

    def hit(event_id: str, created: float) -> str:
        if event_id in dropped_by:
            return dropped_by[event_id]
        for fault in injected:
            if fault.started <= created <= fault.finished or fault.started > created:
                return fault.kind
        return "(after the last fault)"

    def before(started: float) -> str:
        earlier = [f.kind for f in injected if f.started <= started]
        return earlier[-1] if earlier else "(before any fault)"

    with psycopg.connect(topology.database_url, autocommit=True) as db:
        swept = db.execute("""
            SELECT l.event_id::text, extract(epoch FROM l.created_at), l.attempts - 1 - (
                SELECT count(*) FROM outbox_attempt a WHERE a.event_id = l.event_id AND a.outcome = 'retrying')
            FROM outbox_log l WHERE l.task_name IS NOT NULL AND l.attempts > 1""").fetchall()
        healed = db.execute("SELECT extract(epoch FROM started_at), repaired FROM ops_healrun "
                            "WHERE NOT dry_run AND repaired > 0").fetchall()
    by_sweep: Counter[str] = Counter()
    for event_id, created, extra in swept:
        if extra > 0:
            by_sweep[hit(event_id, float(created))] += int(extra)
    by_heal: Counter[str] = Counter()
    for started, repaired in healed:
        by_heal[before(float(started))] += int(repaired)
    return Repairs(by_sweep, by_heal)


# --- the run ---------------------------------------------------------------------------------------


def run(config: ChaosConfig, say: Say, keep_logs: Path | None = None) -> tuple[int, int, int]:
    """Returns (lost, duplicate effects, forced) after printing the report. The processes' and
    servers' logs are kept in `keep_logs` (when given) or, after a failed run, next to the run's
    directory."""
    topology = Topology()
    rng = random.Random(config.seed)
    say(f"chaos run: seed {config.seed}, {config.load_s:.0f} s of load, faults {', '.join(config.kinds)} "
        f"x{config.per_kind}; servers and logs in {topology.root}")
    supervisor = Supervisor(topology)
    try:
        topology.prepare()
        topology.start_processes()
        topology.wait_for_web()
        say(f"topology up on network {topology.network.network}: web {topology.base_url}, "
            f"hosts {', '.join(topology.network.hosts)}")
        ledger, stop = Ledger(), threading.Event()
        actors, clients = stage(topology, ledger, rng, config, stop)
        injector = Injector(topology, schedule(config.load_s, rng, config.kinds, config.per_kind), rng,
                            partition_s=config.partition_s)
        topology.loading = True
        supervisor.start()
        for actor in actors:
            actor.start()
        injector.start()
        started = time.monotonic()
        # The load goes on until the last fault is over: every fault meets a loaded system.
        while time.monotonic() - started < config.load_s or injector.is_alive():
            time.sleep(5 if injector.is_alive() and time.monotonic() - started >= config.load_s else
                       min(15, max(0.5, config.load_s - (time.monotonic() - started))))
            say(f"  {time.monotonic() - started:4.0f} s: {ledger.requests} requests, {ledger.writes_accepted} "
                f"writes accepted, faults {dict(injector.counts())}, restarts {dict(supervisor.restarts)}")
        stop.set()
        for actor in actors:
            actor.join(30)
        for client in clients:
            client.close()
        say("load stopped; waiting for the system to settle by itself (beat's sweeps and heals, restarts)")
        settled = settle(topology, config.settle_s)
        if settled is None:
            say(f"  not settled within {config.settle_s:.0f} s: what is still unsettled is reported as lost")
        supervisor.stop.set()
        supervisor.join(30)
        outcome = report(topology, ledger, injector, supervisor, actors, settled, say)
        if any(outcome) and keep_logs is None:
            keep_logs = topology.root.with_name(f"{topology.root.name}-logs")
        return outcome
    except BaseException:
        keep_logs = keep_logs or topology.root.with_name(f"{topology.root.name}-logs")
        raise
    finally:
        supervisor.stop.set()
        topology.stop(keep_logs)
        if keep_logs is not None:
            say(f"logs kept in {keep_logs}")


def report(topology: Topology, ledger: Ledger, injector: Injector, supervisor: Supervisor, actors: list[Actor],
           settled: float | None, say: Say) -> tuple[int, int, int]:
    with psycopg.connect(topology.database_url, autocommit=True) as db:
        losses = {name: check(db) for name, check in checks.CHECKS.items()}
        losses["accepted writes persisted"] = checks.accepted_writes_persisted(db, ledger)
        duplicates = {name: check(db) for name, check in checks.DUPLICATES.items()}
        covered = checks.effects_checked(db)
        row = db.execute("SELECT count(*) FROM outbox_log").fetchone()
        events = int(row[0]) if row else 0
    losses["no 5xx outside PostgreSQL outages"] = checks.server_errors_outside_windows(
        ledger, injector.postgres_windows())
    by_hand = forced(topology)
    repairs = attribute(topology, injector.done)
    lost = sum(len(items) for items in losses.values())
    doubled = sum(len(items) for items in duplicates.values())
    lines = [
        ("requests sent", ledger.requests),
        ("writes accepted (2xx)", ledger.writes_accepted),
        ("invalid writes sent (must be 4xx)", ledger.invalid_writes),
        ("answers lost (connection errors)", len(ledger.transport_errors)),
        ("5xx answers (all)", len(ledger.server_errors)),
        ("events emitted", events),
        ("duplicate deliveries absorbed", duplicates_absorbed(topology)),
        *((f"restarts by the supervisor: {name}", n) for name, n in sorted(supervisor.restarts.items())),
        *((f"beat sent: {name}", n) for name, n in sorted(beat_sends(topology).items())),
    ]
    say("")
    for label, value in lines:
        say(f"  {label:<52} {value:>8}")
    say("")
    say(f"  {'fault':<26} {'injected':>8} {'failed':>6} {'dropped':>8} {'by sweep':>9} {'by heal':>8}")
    counts, failed = injector.counts(), injector.failed()
    for kind in (*injector_kinds(injector), "(after the last fault)", "(before any fault)"):
        dropped = sum(f.dropped for f in injector.done if f.kind == kind and f.injected)
        row = (counts.get(kind, 0), failed.get(kind, 0), dropped, repairs.by_sweep.get(kind, 0),
               repairs.by_heal.get(kind, 0))
        if kind.startswith("(") and not any(row):
            continue
        say(f"  {kind:<26} {row[0]:>8} {row[1]:>6} {row[2]:>8} {row[3]:>9} {row[4]:>8}")
    say("")
    for fault in injector.done:
        say(f"  {dt.datetime.fromtimestamp(fault.started, dt.UTC):%H:%M:%S} {fault.kind} (struck {fault.queued} "
            f"queued messages, {fault.in_flight} events in flight): {fault.detail}")
    for error in injector.errors + supervisor.errors + [f"{a.name}: {f}" for a in actors for f in a.failures[:3]]:
        say(f"  note: {error}")
    for name, items in losses.items():
        say(f"  {'ok  ' if not items else 'LOST'} {name}" + (f": {len(items)}" if items else ""))
        for item in items[:20]:
            say(f"         {item}")
    for name, items in duplicates.items():
        say(f"  {'ok  ' if not items else 'DUP '} {name} ({covered.get(name, 0)} checked)"
            + (f": {len(items)}" if items else ""))
        for item in items[:20]:
            say(f"         {item}")
    for item in by_hand:
        say(f"  FORCED {item}")
    last = injector.last_fault_end()
    if settled is not None:
        say(f"settled {max(0.0, settled - last):.1f} s after the last fault ended")
    else:
        say("did not settle")
    say(f"lost={lost} duplicate_effects={doubled} forced={len(by_hand)}")
    return lost, doubled, len(by_hand)


def injector_kinds(injector: Injector) -> list[str]:
    return list(dict.fromkeys(fault.kind for fault in sorted(injector.schedule, key=lambda f: KINDS.index(f.kind))))
