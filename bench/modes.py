"""The app's numbers, per mode, against real worker processes: orders and handled messages per
second, the time from placing an order until every consumer is done, and worker memory.

Orders are placed here through ``orders.services.place_order``, as the API does, and published
through the outbox's fast path to the broker. Every time is read from the message log the
workers write (their clocks, this machine), so this process's polling never adds to a number.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Max

from bench.stats import latency_summary, rate, ratio
from tests.integration.workers import WorkerGroup

FINAL = {"confirmed"}
#: Statuses of a consumer's log row that mean "a handler ran" (sent rows and skipped duplicates do not).
HANDLED = ("handled", "failed", "dead_lettered")
SETTLE_TIMEOUT = 900.0
#: How long the message log must stay still before a batch counts as settled. Only the waiting
#: gets longer with it, never a measured time (those come from the log's timestamps).
QUIET = 0.5


@dataclass(frozen=True)
class Shopper:
    customer_id: int
    product_id: int


def prepare() -> Shopper:
    """A customer, and a product with stock for any number of orders (nothing is cancelled)."""
    from catalog.models import Customer, Product

    product = Product.objects.order_by("id").first()
    customer = Customer.objects.order_by("id").first()
    assert product is not None and customer is not None, "seed_catalog first"
    Product.objects.filter(pk=product.pk).update(stock=10**9)
    return Shopper(customer.pk, product.pk)


def place(shopper: Shopper, mode: str, count: int) -> list[uuid.UUID]:
    from orders.services import LineRequest, place_order

    items = [LineRequest(shopper.product_id, 1)]
    return [place_order(customer_id=shopper.customer_id, items=items, mode=mode).id for _ in range(count)]


def settle(order_ids: Sequence[uuid.UUID], url: str, label: str) -> None:
    """Until every order is confirmed and every message it caused was handled by each of its
    consumers, with the broker empty (the fault tier's definition, tests/faults/settling.py)."""
    from orders.models import Order
    from tests.faults.settling import settle as settle_orders

    final = {*FINAL, "cancelled"}  # wait for cancelled ones too, then fail now rather than time out
    settle_orders(
        order_ids,
        url=url,
        final=final,
        label=label,
        timeout=SETTLE_TIMEOUT,
        quiet=QUIET,
        poll=0.1,
        only_these_orders=True,  # the producer-cost phase leaves messages nobody consumes
    )
    cancelled = Order.objects.filter(pk__in=order_ids, status="cancelled")
    if cancelled.exists():
        reasons = sorted(set(cancelled.values_list("cancel_reason", flat=True)))
        raise RuntimeError(f"[{label}] {cancelled.count()} orders were cancelled ({reasons}): the run is not valid")


def _handled(order_ids: Sequence[uuid.UUID]) -> tuple[int, datetime]:
    from core.models import MessageLog

    rows = MessageLog.objects.filter(correlation_id__in=[str(i) for i in order_ids], status__in=HANDLED)
    last = rows.aggregate(last=Max("created_at"))["last"]
    assert last is not None, "no consumer handled anything"
    return rows.count(), last


def throughput(
    shopper: Shopper, mode: str, orders: int, group: WorkerGroup, url: str, baselines: dict[str, Any]
) -> dict[str, Any]:
    """Place ``orders`` as fast as one producer can, and time until the last consumer is done."""
    from bench import cpu

    before = cpu.snapshot(group)
    started = time.time()
    ids = place(shopper, mode, orders)
    placing = time.time() - started
    settle(ids, url, f"throughput {mode}")
    handled, last = _handled(ids)
    seconds = last.timestamp() - started
    spent = cpu.per_message(before, cpu.snapshot(group), handled)
    return {
        "orders": orders,
        "seconds": round(seconds, 3),
        "orders_per_s": rate(orders, seconds),
        "placed_per_s": rate(orders, placing),
        "handled": handled,
        "handled_per_s": rate(handled, seconds),
        "handled_per_order": round(handled / orders, 2),
        "handled_vs_raw": ratio(handled / seconds, baselines["raw"]["tasks_per_s"]),
        "handled_vs_raw_write": ratio(handled / seconds, baselines["raw_write"]["tasks_per_s"]),
        # Includes the settling wait's polling in the producer's share (small: a few reads a second).
        "cpu_ms_per_handled": spent,
    }


def _done(order_id: uuid.UUID, quiet: float) -> datetime:
    """Wait until one order's flow is over; return when its last consumer finished."""
    from core.models import MessageLog
    from core.trace import build_trace
    from core.trace import pending as waiting_for
    from messaging.kernel.outbound import pending
    from messaging.kernel.subscriptions import table
    from orders.models import Order

    subscribers = table()
    deadline = time.monotonic() + 60
    seen, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        rows = list(MessageLog.objects.filter(correlation_id=str(order_id)).order_by("created_at", "id"))
        if len(rows) != seen:
            seen, quiet_since = len(rows), time.monotonic()
        order = Order.objects.get(pk=order_id)
        settled = order.status in FINAL and not pending() and rows
        quiet_enough = time.monotonic() - quiet_since >= quiet
        if settled and quiet_enough and not waiting_for(build_trace(rows, start=order.placed_at), subscribers):
            return max(r.created_at for r in rows if r.status in HANDLED)
        time.sleep(0.005)
    raise TimeoutError(f"order {order_id} did not finish in 60 s")


def latency(shopper: Shopper, mode: str, samples: int, raw_p50_ms: float) -> dict[str, Any]:
    """One order at a time: from calling place_order to the last consumer's log row."""
    warmup = min(5, samples // 4)
    seconds = []
    for i in range(warmup + samples):
        started = time.time()
        [order_id] = place(shopper, mode, 1)
        finished = _done(order_id, quiet=0.15)
        if i >= warmup:
            seconds.append(finished.timestamp() - started)
    summary = latency_summary(seconds)
    return {**summary, "p50_vs_raw": ratio(float(summary["p50_ms"]), raw_p50_ms)}


def memory(shopper: Shopper, group: WorkerGroup, url: str, messages: int) -> dict[str, Any]:
    """Worker RSS after a warm-up, and again after ``messages`` more handled messages (orders in
    both modes, alternately, so every handler runs)."""
    from bench.workers import rss_mb
    from core.models import MessageLog

    def handled_so_far() -> int:
        return MessageLog.objects.filter(status__in=HANDLED).count()

    batch = min(250, max(20, messages // 8 + 1))  # orders per round; about 8 messages each
    warmup = min(20, max(5, messages // 1000))
    warm = place(shopper, "command", warmup) + place(shopper, "event", warmup)
    settle(warm, url, "memory warm-up")
    start, base = rss_mb(group), handled_so_far()
    orders = 0
    while handled_so_far() - base < messages:
        ids = place(shopper, "command", batch // 2) + place(shopper, "event", batch // 2)
        settle(ids, url, "memory")
        orders += len(ids)
    end = rss_mb(group)
    growth = {name: round((end[name] / start[name] - 1) * 100, 2) for name in start}
    workers = [
        {"service": name, "start_mb": round(start[name], 1), "end_mb": round(end[name], 1), "growth_pct": growth[name]}
        for name in start
    ]
    total_start, total_end = sum(start.values()), sum(end.values())
    return {
        "messages": handled_so_far() - base,
        "orders": orders,
        "workers": workers,
        "total_start_mb": round(total_start, 1),
        "total_end_mb": round(total_end, 1),
        "total_growth_pct": round((total_end / total_start - 1) * 100, 2),
        "max_growth_pct": max(growth.values()),
    }
