from __future__ import annotations

import argparse
import json
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from bench import relay as bench
from bench import relay_e2e
from bench.relay_e2e import E2EOptions
from core.platform.db import conninfo

# (key, label, unit, target)
ROWS: list[tuple[str, str, str, str]] = [
    ("relay_events_per_s", "relay, one process", "events/s", ">= 25,000"),
    ("naive_events_per_s", "naive relay (baseline)", "events/s", ""),
    ("relay_vs_naive", "relay / naive", "x", ">= 25"),
    ("latency_p50_ms", "commit -> Redis p50, relay", "ms", ""),
    ("latency_p99_ms", "commit -> Redis p99, relay", "ms", "<= 5"),
    ("naive_latency_p50_ms", "commit -> Redis p50, naive", "ms", ""),
    ("naive_latency_p99_ms", "commit -> Redis p99, naive", "ms", ""),
    ("claim_ms_empty", "claim of one batch, empty history", "ms", ""),
    ("claim_ms_history", "claim of one batch, with history", "ms", "<= 1.2x empty"),
    ("history_rows", "history rows", "rows", ""),
    ("drain_first_100k_s", "backlog drain, first 100k", "s", ""),
    ("drain_last_100k_s", "backlog drain, last 100k", "s", "<= 1.2x first"),
    ("commits_per_s_without_outbox", "visit edits, no outbox row", "tx/s", ""),
    ("commits_per_s_with_emit", "visit edits, with emit()", "tx/s", ""),
    ("emit_commit_ratio", "emit / no outbox", "ratio", ">= 0.85"),
    ("single_update_commits_per_s_without_outbox", "single-row updates, no outbox row", "tx/s", ""),
    ("single_update_commits_per_s_with_emit", "single-row updates, with emit()", "tx/s", ""),
    ("single_update_emit_commit_ratio", "emit / no outbox (single update)", "ratio", ""),
    ("relay_running_commits_per_s_never_notify", "relay running: emit, never NOTIFY", "tx/s", ""),
    ("relay_running_commits_per_s_with_emit", "relay running: emit, wake-up as built", "tx/s", ""),
    ("relay_running_commits_per_s_notify_every_commit", "relay running: NOTIFY every commit", "tx/s", ""),
    ("wakeup_cost_ratio", "wake-up as built / never NOTIFY", "ratio", ""),
    ("notify_every_commit_ratio", "NOTIFY every commit / never NOTIFY", "ratio", ""),
    ("e2e_events_per_s", "e2e: committed -> effect, outbox", "events/s", ">= 0.8x Celery"),
    ("celery_e2e_events_per_s", "e2e: plain Celery on_commit(delay)", "events/s", ""),
    ("e2e_vs_celery", "e2e outbox / plain Celery", "x", ""),
    ("e2e_p50_ms", "e2e commit -> effect p50, outbox", "ms", ""),
    ("e2e_p99_ms", "e2e commit -> effect p99, outbox", "ms", ""),
    ("celery_e2e_p50_ms", "e2e commit -> effect p50, Celery", "ms", ""),
    ("celery_e2e_p99_ms", "e2e commit -> effect p99, Celery", "ms", ""),
    ("ordered_keys", "ordered: keys", "keys", ""),
    ("ordered_effects", "ordered: effects", "events", "= keys x events"),
    ("ordered_duplicate_effects", "ordered: duplicate effects", "events", "= 0"),
    ("ordered_inversions", "ordered: inversions", "events", "= 0"),
    ("ordered_events_per_s", "ordered: events/s (2 relays, 1 killed)", "events/s", ""),
    ("fair_wait_batches", "fair: batches until other tenant's event", "batches", "<= 2"),
    ("fair_wait_ms", "fair: its commit -> effect", "ms", ""),
    ("fair_wait_tasks_ahead", "fair: tasks run before its effect", "tasks", ""),
]


def verdicts(r: dict[str, Any]) -> dict[str, bool]:
    return {
        "relay_events_per_s": r["relay_events_per_s"] >= 25_000,
        "relay_vs_naive": r["relay_vs_naive"] >= 25,
        "latency_p99_ms": r["latency_p99_ms"] <= 5,
        "claim_ms_history": r["claim_ms_history"] <= 1.2 * r["claim_ms_empty"],
        "drain_last_100k_s": r["drain_last_100k_s"] <= 1.2 * r["drain_first_100k_s"],
        "emit_commit_ratio": r["emit_commit_ratio"] >= 0.85,
        "e2e_events_per_s": r["e2e_events_per_s"] >= 0.8 * r["celery_e2e_events_per_s"],
        "ordered_effects": r["ordered_effects"] == r["ordered_events"],
        "ordered_duplicate_effects": r["ordered_duplicate_effects"] == 0,
        "ordered_inversions": r["ordered_inversions"] == 0,
        "fair_wait_batches": r["fair_wait_batches"] <= 2,
    }


class Command(BaseCommand):
    help = ("Measure the relay against a naive baseline in isolated databases "
            f"({bench.BENCH_DB}, {relay_e2e.E2E_DB}) and a Redis database of its own, then end to end "
            "with celery workers against plain Celery; prints figures and targets.")

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = bench.BenchOptions()
        parser.add_argument("--events", type=int, default=defaults.events)
        parser.add_argument("--history", type=int, default=defaults.history,
                            help="history rows for the claim-cost comparison")
        parser.add_argument("--backlog", type=int, default=defaults.backlog, help="rows in the drain test")
        parser.add_argument("--naive-events", type=int, default=defaults.naive_events)
        parser.add_argument("--trickle-seconds", type=float, default=defaults.trickle_seconds)
        parser.add_argument("--commit-seconds", type=float, default=defaults.commit_seconds)
        e2e = E2EOptions()
        parser.add_argument("--e2e-events", type=int, default=e2e.events,
                            help="committed events drained end to end (outbox and plain Celery)")
        parser.add_argument("--ordered-keys", type=int, default=e2e.ordered_keys,
                            help=f"ordering keys, {e2e.ordered_per_key} events each")
        parser.add_argument("--fair-backlog", type=int, default=e2e.fair_backlog,
                            help="the flooding tenant's backlog in the fairness measurement")
        parser.add_argument("--reuse", action="store_true",
                            help="keep the bench database (and its history) from a previous run")
        parser.add_argument("--redis-url", default=settings.REDIS_BROKER_URL.rsplit("/", 1)[0] + "/13",
                            help="Redis database the bench may flush (default: DB 13)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        # Internal: the bench starts the naive relay as a process of its own with this flag.
        parser.add_argument("--serve-naive-relay", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["serve_naive_relay"]:
            self.serve_naive(options)
            return
        bench_options = bench.BenchOptions(
            events=options["events"], history=options["history"], backlog=options["backlog"],
            naive_events=options["naive_events"], trickle_seconds=options["trickle_seconds"],
            commit_seconds=options["commit_seconds"], reuse=options["reuse"])
        quiet = options["json"]
        report = (lambda _line: None) if quiet else self.stdout.write
        results = bench.run(conninfo(), options["redis_url"], bench_options, report)
        results.update(relay_e2e.run(conninfo(), options["redis_url"], E2EOptions(
            events=options["e2e_events"], ordered_keys=options["ordered_keys"], fair_backlog=options["fair_backlog"],
            max_queued=settings.RELAY_MAX_QUEUED, reuse=options["reuse"]), report))
        checks = verdicts(results)
        if quiet:
            figures = {k: round(v, 3) if isinstance(v, float) else v for k, v in results.items()}
            self.stdout.write(json.dumps({**figures, "targets_met": checks}))
            return
        width = max(len(label) for _key, label, _unit, _target in ROWS)
        self.stdout.write("")
        self.stdout.write(f"{'figure':<{width}} {'value':>14}  {'unit':<9} {'target':<15} ")
        for key, label, unit, target in ROWS:
            value = results[key]
            shown = f"{value:,.0f}" if isinstance(value, int) or value >= 1000 else f"{value:,.2f}"
            mark = "" if key not in checks else ("ok" if checks[key] else "MISSED")
            self.stdout.write(f"{label:<{width}} {shown:>14}  {unit:<9} {target:<15} {mark}")
        self.stdout.write(f"drain time per 100k: {results['drain_100k_s']}")

    def serve_naive(self, options: dict[str, Any]) -> None:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        bench.naive_relay(conninfo(), settings.REDIS_BROKER_URL, stop, [0])
