"""An in-process Celery worker for the embedded default (``memory://``): demo and fast tests.

It runs the same consumers as a real worker (tasks for commands, the bootstep for events),
in threads of this process, so routing, serialization and acknowledgements are exercised.
Real worker processes on Redis and RabbitMQ are for ``make run`` and the integration tier.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery
from celery.contrib.testing.worker import start_worker

from shop.messaging.settings import COMMAND_QUEUES

logger = logging.getLogger("shop.messaging")


@contextmanager
def embedded_worker(app: Celery, *, subscribers: str = "all", concurrency: int = 4) -> Iterator[Any]:
    queues = sorted(set(COMMAND_QUEUES.values()))
    with start_worker(
        app,
        pool="threads",
        concurrency=concurrency,
        perform_ping_check=False,
        queues=queues,
        subscribers=subscribers,
        loglevel="WARNING",
        shutdown_timeout=10,
    ) as worker:
        yield worker


@contextmanager
def embedded_relay(every: float = 0.2) -> Iterator[None]:
    """The outbox sweeper (``manage.py relay_outbox``) as a thread of this process.

    The fast path publishes each transaction's messages on commit, so most runs never need it;
    timers (``CommandBus.send(not_before=...)``, the saga deadline) wait for it by design.
    """
    from django.db import close_old_connections

    from shop.messaging.bootstrap import bus
    from shop.messaging.outbound import OutboxDispatch
    from shop.messaging.transient import reset_connections

    stopping = threading.Event()

    def sweep() -> None:
        try:
            while not stopping.wait(every):
                try:
                    close_old_connections()
                    outbound = bus().outbound
                    if isinstance(outbound, OutboxDispatch):
                        outbound.relay.sweep()
                except Exception:  # like the relay process: log it, and sweep again later
                    logger.exception("embedded relay: sweep failed")
                    reset_connections()
        finally:
            reset_connections()

    thread = threading.Thread(target=sweep, name="embedded-relay", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopping.set()
        thread.join(timeout=10)
