"""An in-process Celery worker for the embedded default (``memory://``): the demo, the
one-process ``make run`` (messaging/operations/embedded_services.py), and fast tests.

It runs the same consumers as a real worker (tasks for commands, the bootstep for events),
in threads of this process, so routing, serialization and acknowledgements are exercised.
Real worker processes on Redis and RabbitMQ are for ``make run`` and the integration tier.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery
from celery.contrib.testing.worker import start_worker

from messaging.kernel.routing import command_queues


@contextmanager
def embedded_worker(app: Celery, *, subscribers: str = "all", concurrency: int = 4) -> Iterator[Any]:
    queues = sorted(set(command_queues().values()))
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
