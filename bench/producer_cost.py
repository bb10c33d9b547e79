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


def consumer_queues(url: str, mode: str, consumers: int) -> list[Any]:
    """The first ``consumers`` consumers' queues, as their workers would declare them on start."""
    from kombu import Queue

    from messaging.celery_adapter.topology import service_queue

    if mode == "event":
        return [service_queue(consumer_name(i), url) for i in range(1, consumers + 1)]
    names = [f"{consumer_name(i)}.notify" for i in range(1, consumers + 1)]
    return [Queue(name, routing_key=name, durable=True) for name in names]


def declare_queues(channel: Any, url: str, mode: str, consumers: int) -> list[str]:
    """Declare the first ``consumers`` consumers' queues; their names."""
    queues = consumer_queues(url, mode, consumers)
    for queue in queues:
        queue(channel).declare()
    return [queue.name for queue in queues]


def delete_queues(channel: Any, url: str, mode: str) -> None:
    """Delete every bench consumer's queue: in event mode a queue bound to the fanout exchange is a
    subscriber, so the next block's count is exactly the queues it declares. Each is declared,
    emptied and deleted on one channel: kombu's Redis transport unbinds only the bindings its
    channel knows of, and deletes no list for a queue bound to no exchange (the commands')."""
    for queue in consumer_queues(url, mode, max(COUNTS)):
        bound = queue(channel)
        bound.declare()
        bound.purge()
        bound.delete()


def depth(channel: Any, url: str, queues: list[str]) -> int:
    if url.startswith("redis"):
        return sum(int(channel.client.llen(q)) for q in queues)
    return sum(int(channel.queue_declare(queue=q, passive=True).message_count) for q in queues)


def schedule(orders: int, rounds: int) -> list[tuple[int, int]]:
    """(consumers, orders) blocks: every count in every round, the order rotated each round.

    Measuring 1, then 2, 4 and 8 consumers in one block each put any drift of the run (a busy
    neighbour on two CPUs, tables that grow with every order, a cold first block) on one count:
    one run of 2026-12-06 gave 8-vs-1 ratios of 1.28 and 0.89 back to back on the same code. In
    rounds, a drift falls on every count alike, and each count's median is over every round."""
    per_block = [orders // rounds + (1 if r < orders % rounds else 0) for r in range(rounds)]
    blocks = []
    for r, size in enumerate(per_block):
        turn = r % len(COUNTS)
        blocks += [(count, size) for count in COUNTS[turn:] + COUNTS[:turn] if size]
    return blocks


def measure(space: Namespace, mode: str, orders: int, *, warmup: int = 10, rounds: int = 8) -> list[dict[str, Any]]:
    from bench.modes import place, prepare
    from bench.stack import producing_to
    from core.models import MessageLog

    space.reset()
    routes = register_commands()
    shopper = prepare()
    seconds: dict[int, list[float]] = {count: [] for count in COUNTS}
    ids: dict[int, list[str]] = {count: [] for count in COUNTS}
    copies = dict.fromkeys(COUNTS, 0)
    with producing_to(space.url, routes=routes), Connection(space.url) as conn:
        channel = conn.channel()
        with command_flow(max(COUNTS)):
            place(shopper, mode, warmup)
        for consumers, size in schedule(orders, min(rounds, orders)):
            delete_queues(channel, space.url, mode)
            queues = declare_queues(channel, space.url, mode, consumers)
            with command_flow(consumers):
                for _ in range(size):
                    started = time.perf_counter()
                    [order_id] = place(shopper, mode, 1)
                    seconds[consumers].append(time.perf_counter() - started)
                    ids[consumers].append(str(order_id))
            copies[consumers] += depth(channel, space.url, queues)
        delete_queues(channel, space.url, mode)
    withdraw_timers()
    rows = []
    for consumers in COUNTS:
        published = MessageLog.objects.filter(correlation_id__in=ids[consumers], status="sent").count()
        placed = len(seconds[consumers])
        rows.append(
            {
                "subscribers": consumers,
                "orders": placed,
                "median_ms": median_ms(seconds[consumers]),
                "p95_ms": round(percentile(seconds[consumers], 95) * 1000, 3),
                "published_per_order": round(published / placed, 2),
                "broker_copies_per_order": round(copies[consumers] / placed, 2),
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
