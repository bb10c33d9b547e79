"""The outbox sweeper, as its own process (Procfile: ``relay``).

The fast path publishes each transaction's messages as soon as it commits; this loop publishes
whatever it left behind. Run as many as you like: rows are claimed with SKIP LOCKED.

Every ``--redeliver-every`` seconds it also re-sends a copy of any message that a consumer has
still not handled long after it was sent (shop/messaging/redelivery.py explains why).
"""

from __future__ import annotations

import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from shop.messaging.bootstrap import bus
from shop.messaging.outbound import OutboxDispatch
from shop.messaging.redelivery import redeliver_overdue
from shop.messaging.relay import pending


class Command(BaseCommand):
    help = "Publish pending outbox messages: once, or in a loop until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Sweep until nothing is pending, then exit.")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between sweeps (default 1).")
        parser.add_argument("--batch", type=int, default=200)
        parser.add_argument(
            "--redeliver-every",
            type=float,
            default=5.0,
            help="Seconds between checks for messages a consumer never handled (0: never).",
        )

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
        every, last_check = options["redeliver_every"], time.monotonic()
        while not stopping:
            close_old_connections()
            sent = outbound.relay.sweep(limit=options["batch"])
            if sent:
                self.stdout.write(f"relay_outbox: published {sent}")
            if every and time.monotonic() - last_check >= every and not options["once"]:
                last_check = time.monotonic()
                self._redeliver()
            if options["once"] and (not sent or not pending()):
                break
            if sent < options["batch"]:
                time.sleep(options["interval"])
        self.stdout.write(f"relay_outbox: stopped, {pending()} pending")

    def _redeliver(self) -> None:
        from shop.celery import app

        try:
            copies = redeliver_overdue(app)
        except Exception as exc:  # noqa: BLE001 - the broker may be down; the next check tries again
            self.stderr.write(f"relay_outbox: redelivery check failed: {type(exc).__name__}: {exc}")
            return
        for copy in copies:
            self.stdout.write(f"relay_outbox: redelivered {copy.name} {copy.message_id} to {copy.queue}")
