"""The outbox sweeper, as its own process (Procfile: ``relay``).

The fast path publishes each transaction's messages as soon as it commits; this loop publishes
whatever it left behind. Run as many as you like: rows are claimed with SKIP LOCKED.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from shop.messaging.bootstrap import bus
from shop.messaging.outbound import OutboxDispatch
from shop.messaging.relay import pending


class Command(BaseCommand):
    help = "Publish pending outbox messages: once, or in a loop until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Sweep until nothing is pending, then exit.")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between sweeps (default 1).")
        parser.add_argument("--batch", type=int, default=200)

    def handle(self, *args: Any, **options: Any) -> None:
        outbound = bus().outbound
        if not isinstance(outbound, OutboxDispatch):
            raise SystemExit("the buses are not wired to the outbox")
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"relay_outbox: {pending()} pending")
        while not stopping:
            close_old_connections()
            sent = outbound.relay.sweep(limit=options["batch"])
            if sent:
                self.stdout.write(f"relay_outbox: published {sent}")
            if options["once"] and (not sent or not pending()):
                break
            if sent < options["batch"]:
                time.sleep(options["interval"])
        self.stdout.write(f"relay_outbox: stopped, {pending()} pending")
