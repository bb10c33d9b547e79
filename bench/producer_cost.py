"""What placing an order costs the producer as consumers are added: 1, 2, 4 and 8 of them.

This is the lesson's coupling, as a number. In command mode the order service tells each
consumer, so every consumer adds a command it must send (here ``benchN.notify``, one queue per
consumer, through the same outbox and Celery transport as the app's own commands). In event mode
it publishes ``order.placed`` once, through the app's real event flow, and the consumers are
queues bound to the ``events`` exchange (``benchN.events``), which the producer never names.

No worker runs here: the measured thing is ``place_order`` until it returns (its transaction,
the outbox rows, the publish after commit). The bench then counts, on the broker, how many copies
each order left in the consumers' queues, to show who made them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu import Connection
from pydantic import BaseModel

from bench.stack import Namespace
from bench.stats import median_ms, percentile, ratio

COUNTS = (1, 2, 4, 8)


def consumer_name(n: int) -> str:
    return f"bench{n}"


class Notify(BaseModel):
    order_id: str


class TellEach:
    """Command mode's ``placed`` with ``n`` consumers: one command to each, by name."""

    def __init__(self, consumers: int) -> None:
        self.names = [f"{consumer_name(i)}.notify" for i in range(1, consumers + 1)]

    def placed(self, order: Any, *, data: dict[str, Any]) -> None:
        from messaging.bootstrap import bus

        for name in self.names:
            bus().commands.send(name, {"order_id": str(order.id)}, producer="orders", correlation_id=str(order.id))


def register_commands() -> dict[str, dict[str, str]]:
    """The bench consumers' commands, and their routes (queue named after the command)."""
    from messaging.kernel import contracts

    routes = {}
    for i in range(1, max(COUNTS) + 1):
        name = f"{consumer_name(i)}.notify"
        if not any(c.name == name for c in contracts.all_contracts()):
            contracts.command(name)(Notify)
        routes[name] = {"queue": name}
    return routes


@contextmanager
def command_flow(consumers: int) -> Iterator[None]:
    """Swap command mode's flow at its registry for the duration (the composition point)."""
    from orders.flows import FLOWS, commanding
    from orders.models import FlowMode

    FLOWS[FlowMode.COMMAND] = TellEach(consumers)  # type: ignore[assignment]
    try:
        yield
    finally:
        FLOWS[FlowMode.COMMAND] = commanding


def declare_queues(url: str, mode: str, consumers: int) -> list[str]:
    """The consumers' queues, as their workers would declare them on start."""
    from kombu import Queue

    from messaging.celery_adapter.topology import service_queue

    names = []
    with Connection(url) as conn:
        channel = conn.channel()
        for i in range(1, consumers + 1):
            if mode == "event":
                queue = service_queue(consumer_name(i), url)
            else:
                queue = Queue(f"{consumer_name(i)}.notify", routing_key=f"{consumer_name(i)}.notify", durable=True)
            queue(channel).declare()
            names.append(queue.name)
    return names


def depth(url: str, queues: list[str]) -> int:
    with Connection(url) as conn:
        channel: Any = conn.channel()
        if url.startswith("redis"):
            return sum(int(channel.client.llen(q)) for q in queues)
        return sum(int(channel.queue_declare(queue=q, passive=True).message_count) for q in queues)


def measure(space: Namespace, mode: str, orders: int, *, warmup: int = 10) -> list[dict[str, Any]]:
    from bench.modes import place, prepare
    from bench.stack import producing_to
    from core.models import MessageLog

    space.reset()
    routes = register_commands()
    shopper = prepare()
    rows = []
    with producing_to(space.url, routes=routes):
        for consumers in COUNTS:
            queues = declare_queues(space.url, mode, consumers)
            with command_flow(consumers):
                place(shopper, mode, warmup)
                before = depth(space.url, queues)
                seconds, ids = [], []
                for _ in range(orders):
                    started = time.perf_counter()
                    [order_id] = place(shopper, mode, 1)
                    seconds.append(time.perf_counter() - started)
                    ids.append(str(order_id))
                copies = depth(space.url, queues) - before
            published = MessageLog.objects.filter(correlation_id__in=ids, status="sent").count()
            withdraw_timers()
            rows.append(
                {
                    "subscribers": consumers,
                    "orders": orders,
                    "median_ms": median_ms(seconds),
                    "p95_ms": round(percentile(seconds, 95) * 1000, 3),
                    "published_per_order": round(published / orders, 2),
                    "broker_copies_per_order": round(copies / orders, 2),
                }
            )
    return rows


def withdraw_timers() -> None:
    """These orders have no consumers and will never be confirmed: withdraw their saga deadlines
    from the outbox, or the next phase's relay would publish them when due and its workers
    would spend the run cancelling these orders (the database is shared by every phase)."""
    from core.models import OutboxMessage

    OutboxMessage.objects.filter(sent_at__isnull=True, not_before__isnull=False).delete()


def run(space: Namespace, orders: int) -> dict[str, Any]:
    out: dict[str, Any] = {mode: measure(space, mode, orders) for mode in ("command", "event")}
    for mode in ("command", "event"):
        by_count = {row["subscribers"]: row["median_ms"] for row in out[mode]}
        out[f"{mode}_8_vs_1"] = ratio(by_count[max(COUNTS)], by_count[min(COUNTS)])
    return out
