"""The outbox sweeper, as its own process (Procfile: ``relay``).

The fast path publishes each transaction's messages as soon as it commits; this loop publishes
whatever it left behind. Run as many as you like: rows are claimed with SKIP LOCKED.

It outlives its database and its broker: an error in a sweep (a terminated connection, a
PostgreSQL restart, "too many clients", the broker away) resets the connection and sweeps again
after a backoff (0.5 s growing to 5 s), and each distinct error is reported once per outage, with
one line when it recovers, all on the ``shop.relay`` logger. An error that is neither the
database's nor the broker's is logged with its traceback (and the message it was raised on, when
it was one): it is a bug to fix. ``make run`` also restarts it if it dies anyway (Procfile).

Every ``--redeliver-every`` seconds it also re-sends a copy of any message that a consumer has
still not handled long after it was sent (messaging/operations/redelivery.py explains why).
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from core.logs import remembered_context
from core.transient import Backoff, is_transient, reset_connections
from messaging.bootstrap import bus
from messaging.celery_adapter import current
from messaging.kernel.outbound import OutboxDispatch, pending
from messaging.operations.redelivery import redeliver_overdue

logger = logging.getLogger("shop.relay")


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
        trouble = Trouble()
        backoff = Backoff(first=0.5, most=5.0)
        every, last_check = options["redeliver_every"], time.monotonic()
        self.stdout.write("relay_outbox: started")
        while not stopping:
            try:
                close_old_connections()
                sent = outbound.relay.sweep(limit=options["batch"])
                if outbound.relay.failure:  # the broker refused a row: it stays pending
                    raise BrokerUnavailable(outbound.relay.failure, outbound.relay.failed_message)
                trouble.recovered()
                backoff.succeeded()
                if sent:
                    self.stdout.write(f"relay_outbox: published {sent}")
                if every and time.monotonic() - last_check >= every and not options["once"]:
                    last_check = time.monotonic()
                    self._redeliver()
                if options["once"] and (not sent or not pending()):
                    break
            except Exception as exc:  # noqa: BLE001 - the relay outlives its database and broker
                # A dead connection stays dead: drop it, wait, and sweep again on a new one.
                reset_connections()
                trouble.failed(exc)
                time.sleep(backoff.next_delay())
                continue
            if sent < options["batch"]:
                time.sleep(options["interval"])
        self.stdout.write("relay_outbox: stopped")

    def _redeliver(self) -> None:
        try:
            copies = redeliver_overdue(current.app())
        except Exception as exc:  # noqa: BLE001 - the broker may be down; the next check tries again
            logger.warning("relay_outbox: redelivery check failed: %s: %s", type(exc).__name__, exc)
            return
        for copy in copies:
            self.stdout.write(f"relay_outbox: redelivered {copy.name} {copy.message_id} to {copy.queue}")


class BrokerUnavailable(Exception):
    """The broker refused a publish; the row stays pending for the next sweep."""

    def __init__(self, failure: str, message: dict[str, str] | None = None) -> None:
        super().__init__(failure)
        #: The ids of the message whose publish was refused, for the log line.
        self.message = message or {}


class Trouble:
    """Reports each error of a run of failures once, and the recovery once, instead of one line
    per sweep (every half second) for as long as the database or the broker is away.

    The database's and the broker's errors are expected in an outage: one WARNING line each.
    Anything else is logged at ERROR with its traceback, once too."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.failures = 0

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        kind = "database" if is_transient(exc) else "broker" if isinstance(exc, BrokerUnavailable) else "unexpected"
        text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
        if text in self.seen:
            return
        self.seen.add(text)
        ids = exc.message if isinstance(exc, BrokerUnavailable) else remembered_context(exc)
        if kind == "unexpected":
            logger.error("relay_outbox: unexpected error, retrying with backoff: %s", text, exc_info=exc, extra=ids)
        else:
            logger.warning("relay_outbox: %s error, retrying with backoff: %s", kind, text, extra=ids)

    def recovered(self) -> None:
        if self.failures:
            logger.info("relay_outbox: recovered after %d failed sweeps", self.failures)
        self.seen.clear()
        self.failures = 0
