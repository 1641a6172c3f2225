"""The writers of relay_bench's end-to-end part, run as processes of their own on the bench's
database and Redis (bench/relay_e2e.py starts them with DATABASE_URL and REDIS_BROKER_URL).

Each writes the way Ferry's code does, through Django:

    outbox   emit() of bench.noop task events, the outbox's way;
    celery   a row and transaction.on_commit(bench.plain.delay), plain Celery's way;
    ordered  emit() of bench.ordered events with ordering keys, `keys` keys in turn.

With --bulk all events commit in one transaction and the writer prints the database's clock
just after the commit (the start of an end-to-end drain); otherwise each event is a transaction
of its own, at --rate per second (0: as fast as they commit).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("outbox", "celery", "ordered"))
    parser.add_argument("--first", type=int, default=0, help="the first event's sequence number")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--bulk", action="store_true", help="all events in one transaction")
    parser.add_argument("--rate", type=float, default=0.0, help="transactions per second (0: unthrottled)")
    parser.add_argument("--tenant", type=int, default=1)
    parser.add_argument("--keys", type=int, default=1000, help="ordering keys (ordered mode)")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.config.settings")
    import django

    django.setup()
    from django.db import connection, transaction

    from bench import queries, tasks
    from outbox.emit import emit

    def outbox_event(seq: int) -> None:
        emit("bench.happened", aggregate_type="bench", aggregate_id=seq, payload={"seq": seq},
             task="bench.noop", tenant_id=args.tenant)

    def celery_event(seq: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(queries.PLAIN_JOB, {"seq": seq})
        transaction.on_commit(lambda: tasks.plain.delay(seq, args.tenant))

    def ordered_event(n: int) -> None:
        key, seq = n % args.keys, n // args.keys + 1
        emit("bench.happened", aggregate_type="bench", aggregate_id=key, payload={"key": key, "seq": seq},
             task="bench.ordered", tenant_id=args.tenant, ordering_key=f"bench:{key}")

    write: Callable[[int], None] = {"outbox": outbox_event, "celery": celery_event, "ordered": ordered_event}[args.mode]
    numbers = range(args.first, args.first + args.count)
    if args.bulk:
        committed: list[str] = []
        with transaction.atomic():
            # on_commit callbacks run in order: this one runs first, just after the commit and
            # before plain Celery's messages are sent.
            transaction.on_commit(lambda: committed.append(clock(connection)))
            for n in numbers:
                write(n)
        print(json.dumps({"committed_at": committed[0]}), flush=True)
        return
    interval, next_at = (1 / args.rate if args.rate > 0 else 0.0), time.perf_counter()
    for n in numbers:
        next_at += interval
        with transaction.atomic():
            write(n)
        time.sleep(max(0.0, next_at - time.perf_counter()))


def clock(connection: object) -> str:
    with connection.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute("SELECT clock_timestamp()::text")
        return str(cursor.fetchone()[0])


if __name__ == "__main__":
    main()
