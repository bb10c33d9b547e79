"""How throughput grows with worker processes (issue 17): 1, 2 and 4 inventory workers, and the
whole flow with 1 and 2 processes per service, each point with its CPU milliseconds per message.

On a machine whose CPUs are all busy, more processes only share the same CPUs, so the rate alone
would say little. The CPU a message costs (bench/cpu.py: workers, producer, PostgreSQL, broker)
says what more machines would buy: one more CPU handles about ``1000 / total ms`` messages a
second, as long as the shared PostgreSQL and broker keep up (they pay their share of every message).

**Inventory.** The Procfile's inventory worker, as 1, 2 and 4 processes (the same command line,
node names ``inventory1``, ``inventory2``…). Its work is published ahead, with no worker running:
``inventory.reserve`` commands as command mode's orders service sends them (through the outbox,
with the saga's reply address), so the measured window holds only inventory's own work, not a
producer's, and the other services are not needed. The replies pile up unconsumed on the broker's
``orders.replies`` queue and are thrown away with the namespace. The window starts once every
worker process is ready (those ready first have already begun: their messages are left out) and
ends at the last reservation's message-log row.

**Whole flow.** Every Procfile worker, 1 and then 2 processes per service, plus one outbox relay,
with orders placed by this process as fast as it can, in both modes, timed as bench/modes.py times
the throughput section (first order placed to the last consumer's log row).

Stock: the bench's own products, each with stock for any number of orders, spread round-robin
over the orders, so that several processes reserving at once do not all queue on one product
row's lock (the throughput section orders one product; a real shop sells many).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psutil

from bench import cpu
from bench.modes import HANDLED, settle
from bench.stack import Namespace, producing_to
from bench.stats import rate, ratio
from bench.workers import AppWorkers
from tests.integration.workers import procfile_workers

INVENTORY_PROCESSES = (1, 2, 4)
FLOW_PROCESSES = (1, 2)
MODES = ("command", "event")
PRODUCTS = 64
DRAIN_TIMEOUT = 600.0
#: Seconds to wait for every worker process of a group to be ready: 14 Django processes starting
#: at once on two busy CPUs take a while.
START_TIMEOUT = 300.0


@dataclass(frozen=True)
class Sizes:
    #: inventory.reserve commands published ahead of each inventory point.
    backlog: int
    #: orders per mode at each whole-flow point.
    orders: int


FULL = Sizes(backlog=1200, orders=120)
QUICK = Sizes(backlog=60, orders=8)


@dataclass
class ScaledWorkers(AppWorkers):
    """The Procfile's worker command lines, ``copies`` processes of each (``only`` those services,
    or all), named ``<service><i>``: competing consumers on the same queues."""

    copies: int = 1
    only: tuple[str, ...] = field(default_factory=tuple)

    def services(self) -> list[str]:
        wanted = self.only or tuple(procfile_workers())
        return [f"{service}{i}" for service in wanted for i in range(1, self.copies + 1)]

    def command(self, service: str) -> list[str]:
        return procfile_workers()[service.rstrip("0123456789")]


def pool_slots(group: ScaledWorkers) -> int:
    total = 0
    for name in group.services():
        argv = group.command(name)
        total += int(argv[argv.index("--concurrency") + 1])
    return total


def products() -> list[int]:
    """The bench's products (made once per database): cheap, so no order looks risky to fraud,
    and with stock that never runs out."""
    from catalog.models import Product

    ids = []
    for i in range(PRODUCTS):
        product, _ = Product.objects.update_or_create(
            sku=f"BENCH-W{i:03d}", defaults={"name": f"Bench item {i}", "price": Decimal("9.99"), "stock": 10**9}
        )
        ids.append(product.pk)
    return ids


def publish_reserves(count: int, product_ids: Sequence[int]) -> None:
    """``count`` inventory.reserve commands, as the orders service sends them (outbox, fast path),
    each for a new order id and one product of the round-robin."""
    from django.db import transaction

    from messaging.kernel.wiring import bus

    for start in range(0, count, 100):
        with transaction.atomic():  # the fast path publishes each on commit, 100 at a time
            for i in range(start, min(count, start + 100)):
                order_id = str(uuid.uuid4())
                bus().commands.send(
                    "inventory.reserve",
                    {"order_id": order_id, "items": [{"product_id": product_ids[i % len(product_ids)], "quantity": 1}]},
                    producer="orders",
                    correlation_id=order_id,
                    on_success="orders.advance_saga",
                    on_failure="orders.advance_saga",
                )


def _reservations(since: datetime) -> Any:
    from core.models import MessageLog

    return MessageLog.objects.filter(
        service="inventory", name="inventory.reserve", status__in=HANDLED, created_at__gte=since
    )


def _machine_busy() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine: what else ran beside the bench shows here."""
    t = psutil.cpu_times()
    total = sum(t)
    return total - t.idle - getattr(t, "iowait", 0.0), total


def _shares(spent: dict[str, float], handled: int, seconds: float, busy: tuple[float, float]) -> dict[str, float]:
    """How many CPUs the measured processes kept busy, and how busy the machine was in all."""
    used = spent["total"] * handled / 1000 / seconds if seconds > 0 else 0.0
    return {"cpus_used": round(used, 2), "machine_busy_pct": round(100 * busy[0] / busy[1], 1) if busy[1] else 0.0}


def inventory_point(space: Namespace, copies: int, backlog: int, product_ids: Sequence[int]) -> dict[str, Any]:
    published_from = datetime.now(UTC)
    publish_reserves(backlog, product_ids)
    group = ScaledWorkers(f"bench-scale-{space.broker}", space.url, copies=copies, only=("inventory",), relay=False)
    group.start(timeout=START_TIMEOUT)
    try:
        ready = datetime.now(UTC)
        before, machine = cpu.snapshot(group), _machine_busy()
        early = _reservations(published_from).count()
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while (done := _reservations(published_from).count()) < backlog:
            if time.monotonic() > deadline:
                raise TimeoutError(f"inventory x{copies}: {done} of {backlog} reservations after {DRAIN_TIMEOUT:.0f}s")
            time.sleep(0.1)
        after, machine_after = cpu.snapshot(group), _machine_busy()
    finally:
        group.stop()
    window = _reservations(ready)
    handled = window.count()
    last = max(window.values_list("created_at", flat=True))
    seconds = (last - ready).total_seconds()
    spent = cpu.per_message(before, after, handled)
    busy = (machine_after[0] - machine[0], machine_after[1] - machine[1])
    return {
        "processes": copies,
        "pool_slots": pool_slots(group),
        "backlog": backlog,
        "handled_before_ready": early,
        "handled": handled,
        "seconds": round(seconds, 3),
        "handled_per_s": rate(handled, seconds),
        "cpu_ms_per_handled": spent,
        **_shares(spent, handled, seconds, busy),
    }


def flow_point(
    space: Namespace, copies: int, orders: int, customer_id: int, product_ids: Sequence[int]
) -> dict[str, Any]:
    from core.models import MessageLog
    from orders.services import LineRequest, place_order

    space.reset()  # no reply left over from the inventory points
    group = ScaledWorkers(f"bench-scale-{space.broker}", space.url, copies=copies, relay=True)
    out: dict[str, Any] = {"processes_per_service": copies, "processes": len(group.services())}
    out["pool_slots"] = pool_slots(group)
    group.start(timeout=START_TIMEOUT)
    try:
        with producing_to(space.url):
            for mode in MODES:
                before, machine = cpu.snapshot(group), _machine_busy()
                started = time.time()
                ids = []
                for i in range(orders):
                    line = LineRequest(product_ids[i % len(product_ids)], 1)
                    ids.append(place_order(customer_id=customer_id, items=[line], mode=mode).id)
                placing = time.time() - started
                settle(ids, space.url, f"workers x{copies} {mode}")
                after, machine_after = cpu.snapshot(group), _machine_busy()
                rows = MessageLog.objects.filter(correlation_id__in=[str(i) for i in ids], status__in=HANDLED)
                handled = rows.count()
                seconds = max(rows.values_list("created_at", flat=True)).timestamp() - started
                spent = cpu.per_message(before, after, handled)
                busy = (machine_after[0] - machine[0], machine_after[1] - machine[1])
                out[mode] = {
                    "orders": orders,
                    "seconds": round(seconds, 3),
                    "orders_per_s": rate(orders, seconds),
                    "placed_per_s": rate(orders, placing),
                    "handled": handled,
                    "handled_per_s": rate(handled, seconds),
                    # Includes the settling wait's polling in the producer's share, as bench/modes.py.
                    "cpu_ms_per_handled": spent,
                    **_shares(spent, handled, seconds, busy),
                }
    finally:
        group.stop()
    return out


def _versus_fewest(points: Sequence[dict[str, Any]]) -> None:
    """Each point's rate against the first (fewest processes): the speed-up more processes bought."""
    for point in points:
        point["vs_fewest"] = ratio(point["handled_per_s"], points[0]["handled_per_s"])


def run(broker: str, sizes: Sizes, timed: Callable[..., Any]) -> dict[str, Any]:
    """Both curves on ``broker``, in a namespace of their own (bench/stack.py)."""
    from catalog.models import Customer

    space = Namespace(broker, "shop_bench_workers")
    space.reset()
    product_ids = products()
    customer = Customer.objects.order_by("id").first()
    assert customer is not None, "seed_catalog first"
    inventory = []
    with producing_to(space.url):
        for n in INVENTORY_PROCESSES:
            label = f"{broker}: inventory x{n} over {sizes.backlog:,} reservations"
            inventory.append(timed(label, inventory_point, space, n, sizes.backlog, product_ids))
    _versus_fewest(inventory)
    flow = []
    for n in FLOW_PROCESSES:
        label = f"{broker}: whole flow x{n} per service, {sizes.orders} orders per mode"
        flow.append(timed(label, flow_point, space, n, sizes.orders, customer.pk, product_ids))
    for mode in MODES:
        _versus_fewest([point[mode] for point in flow])
    space.reset()
    return {
        "broker_url": space.url.replace("guest:guest", "guest:**"),
        "cpus": psutil.cpu_count(),
        "products": len(product_ids),
        "inventory": inventory,
        "flow": flow,
    }
