"""Waiting until a run has nothing left to happen: the orders final, the outbox empty, every
message handled by each consumer it was for, the broker's queues empty, the message log quiet.

A fault run checks its effects (tests/faults/checks.py) only once this is so: checking earlier
would count work still in flight as lost. Bounded: a run that never settles fails with what was
still outstanding. The benchmarks wait the same way (bench/modes.py).
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis as redis_py
from django.db.models import Count
from kombu import Connection

from core.models import DeadLetter, MessageLog
from messaging.celery_adapter.topology import service_queue_name
from messaging.kernel import subscriptions
from messaging.kernel.names import Kind
from messaging.kernel.outbound import pending
from messaging.kernel.routing import command_queues
from orders.models import Order

#: The bound on each wait for a run to settle, in seconds, counted from the last order placed.
#: A duplicate+shuffle run settles in 140-180 s on this 2-core machine when it is busy: 420 s
#: leaves room for a loaded CI machine while still bounding a run that is stuck.
SETTLE_TIMEOUT = float(os.environ.get("SHOP_FAULT_SETTLE_TIMEOUT", "420"))
#: The message log must not grow for this long (with nothing in flight) to count as settled: a
#: margin on top of the exact checks (every order final, outbox empty, every message handled by
#: each consumer it was for, the broker's queues empty).
QUIET = 1.0


def in_flight(order_ids: Sequence[uuid.UUID] | None = None) -> Counter[str]:
    """Messages sent that a consumer has not finished with yet, as "name -> service" counts.

    A command is finished once its one handler logged it (handled, failed, duplicate, dead
    letter); an event once every service subscribing to it did. Events nobody subscribes to
    (inventory.released) are finished when sent. With ``order_ids``, only the messages those
    orders caused count: a database that also holds messages nobody will consume (the
    benchmarks' producer-cost phase) would otherwise never look settled.
    """
    table = subscriptions.table()
    log = MessageLog.objects.all()
    if order_ids is not None:
        log = log.filter(correlation_id__in=[str(pk) for pk in order_ids])
    done = set(log.exclude(status=MessageLog.Status.SENT).values_list("message_id", "service"))
    done_ids = {message_id for message_id, _ in done}
    waiting: Counter[str] = Counter()
    sent = log.filter(status=MessageLog.Status.SENT).values_list("message_id", "kind", "name")
    for message_id, kind, name in sent:
        if kind == Kind.COMMAND.value:
            if message_id not in done_ids:
                waiting[f"{name} (command)"] += 1
            continue
        for service in table.get(name, []):
            if (message_id, service) not in done:
                waiting[f"{name} -> {service}"] += 1
    return waiting


def queue_depths(url: str) -> dict[str, int]:
    """Messages the broker still holds: ready in each queue, and (Redis) delivered but unacked."""
    names = sorted(set(command_queues().values())) + [service_queue_name(s) for s in subscriptions.services()]
    if url.startswith("redis"):
        client = redis_py.Redis.from_url(url)
        depths = {name: int(client.llen(name)) for name in names}
        depths["(unacked)"] = int(client.hlen("unacked"))
        return depths
    depths = {}
    with Connection(url, connect_timeout=5) as conn:
        channel: Any = conn.channel()  # an amqp channel; kombu's stubs only know StdChannel
        try:
            for name in names:
                depths[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
        finally:
            channel.close()
    return depths


@dataclass
class Snapshot:
    statuses: dict[str, int]
    outbox_pending: int
    waiting: Counter[str]
    log_rows: int
    queues: dict[str, int]
    broker_error: str = ""

    def done(self, final: set[str], expected: int) -> bool:
        return (
            sum(n for status, n in self.statuses.items() if status in final) == expected
            and not self.outbox_pending
            and not self.waiting
            and not self.broker_error
            and not any(self.queues.values())
        )

    def describe(self) -> str:
        busy = {name: n for name, n in self.queues.items() if n}
        return (
            f"orders by status: {self.statuses}\n"
            f"outbox pending: {self.outbox_pending}\n"
            f"in flight: {dict(self.waiting.most_common(12)) or 'nothing'}\n"
            f"message log rows: {self.log_rows}\n"
            f"broker still holds: {busy or 'nothing'}{' (' + self.broker_error + ')' if self.broker_error else ''}\n"
            f"dead letters: {DeadLetter.objects.count()}"
        )


def snapshot(order_ids: Sequence[uuid.UUID], url: str, *, only_these_orders: bool = False) -> Snapshot:
    statuses = dict(
        Order.objects.filter(pk__in=order_ids).values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    missing = len(order_ids) - sum(statuses.values())
    if missing:
        statuses["(missing)"] = missing
    try:
        queues, error = queue_depths(url), ""
    except Exception as exc:  # noqa: BLE001 - a broker still coming back is "not settled", not a crash
        queues, error = {}, f"{type(exc).__name__}: {exc}"
    waiting = in_flight(order_ids if only_these_orders else None)
    return Snapshot(statuses, pending(), waiting, MessageLog.objects.count(), queues, error)


def settle(
    order_ids: Sequence[uuid.UUID],
    *,
    url: str,
    final: set[str],
    label: str,
    timeout: float = SETTLE_TIMEOUT,
    diagnose: Callable[[], str] | None = None,
    quiet: float = QUIET,
    poll: float = 0.25,
    only_these_orders: bool = False,
) -> float:
    """Wait until every order is in a final state, the outbox is empty, every message sent was
    handled by each consumer it was for, the broker holds nothing, and the message log has not
    grown for ``quiet`` seconds. Bounded: fails with what was still outstanding. Returns seconds.
    (The benchmarks use it too, with a shorter quiet: bench/modes.py.)"""
    started = time.monotonic()
    deadline = started + timeout
    last_rows, quiet_since = -1, started
    while True:
        snap = snapshot(order_ids, url, only_these_orders=only_these_orders)
        now = time.monotonic()
        if snap.log_rows != last_rows:
            last_rows, quiet_since = snap.log_rows, now
        if snap.done(final, len(order_ids)) and now - quiet_since >= quiet:
            return now - started
        if now > deadline:
            raise AssertionError(
                f"[{label}] did not settle in {timeout:.0f}s:\n{snap.describe()}\n{diagnose() if diagnose else ''}"
            )
        time.sleep(poll)
