"""Waiting on the services by polling the database, never by sleeping a fixed time.

The services run elsewhere (worker threads, or the workers of ``make run``), so a chapter can only
learn that something happened by reading what they wrote. These helpers return how long it took,
which the chapters report as measurements.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable

from django.utils import timezone

from core.models import MessageLog
from core.trace import build_trace, pending
from messaging.kernel.subscriptions import table


def wait_until(predicate: Callable[[], bool], *, timeout: float, poll: float = 0.02) -> float | None:
    """Seconds until ``predicate()`` held, or None if it still did not after ``timeout``."""
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started >= timeout:
            return None
        time.sleep(poll)


def settle_orders(
    order_ids: Iterable[uuid.UUID], *, timeout: float, quiet: float = 0.3, poll: float = 0.05
) -> list[str]:
    """Wait until every message these orders caused has been handled by everyone it was for,
    and the log has been quiet for ``quiet`` seconds. Returns what is still awaited (empty: settled).

    ``scenarios.settle`` does this for one order; here a whole batch waits at once, so the quiet
    period is paid once, not once per order.
    """
    correlations = [str(order_id) for order_id in order_ids]
    subscribers = table()
    started = time.monotonic()
    last_count, last_change = -1, started
    while True:
        rows = list(MessageLog.objects.filter(correlation_id__in=correlations).order_by("created_at", "id"))
        now = time.monotonic()
        if len(rows) != last_count:
            last_count, last_change = len(rows), now
        waiting = pending(build_trace(rows, start=timezone.now()), subscribers)
        if (not waiting and now - last_change >= quiet) or now - started >= timeout:
            return waiting
        time.sleep(poll)
