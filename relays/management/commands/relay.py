from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from core.platform.db import conninfo
from relays.relay import Relay, RelayConfig


class Command(BaseCommand):
    help = "Relay committed outbox events to Redis until SIGTERM/SIGINT. Safe to run as replicas."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=settings.RELAY_BATCH_SIZE)
        parser.add_argument("--poll-interval", type=float, default=settings.RELAY_POLL_INTERVAL_S,
                            help="seconds between polls when no NOTIFY arrives")
        parser.add_argument("--metrics-port", type=int, default=0,
                            help="serve Prometheus metrics on PORT (0: off)")
        parser.add_argument("--metrics-addr", default="127.0.0.1", help="address the metrics listen on")
        parser.add_argument("--name", default="relay", help="this replica's name in logs")

    def handle(self, *args: Any, **options: Any) -> None:
        config = RelayConfig(batch_size=options["batch_size"],
                             poll_interval_s=options["poll_interval"], linger_s=settings.RELAY_LINGER_S,
                             linger_poll_s=settings.RELAY_LINGER_POLL_S,
                             redis_timeout_s=settings.REDIS_SOCKET_TIMEOUT, name=options["name"],
                             max_queued=settings.RELAY_MAX_QUEUED or None, max_tenants=settings.RELAY_MAX_TENANTS)
        relay = Relay(conninfo(application_name=f"ferry-relay-{options['name']}"),
                      settings.REDIS_BROKER_URL, settings.REDIS_PUBSUB_URL, config)

        def stop(signum: int, frame: FrameType | None) -> None:
            relay.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if options["metrics_port"]:
            relay.metrics.serve(options["metrics_port"], options["metrics_addr"])
        relay.run()
