"""Contention: 100 orders at once for a product with 10 in stock, two inventory workers.

Two inventory worker processes compete on the same queues (RabbitMQ, the fault tier's own
vhost), so reservations for the one product run in parallel. Exactly 10 orders must get the
stock; the other 90 are cancelled with the reason ("out of stock") and a cancellation email,
stock never goes below zero (the database's CheckConstraint would refuse it; a sampler also
watches it while the orders are handled), and no reservation leaks for a cancelled order.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

from analytics.selectors import totals
from catalog.models import Product
from core.models import DeadLetter, MessageLog
from inventory.models import Reservation
from notifications.models import SentEmail
from orders.models import Order
from tests.faults import checks, report, run, settling, stacks

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ORDERS = 100
STOCK = 10
#: Threads placing the orders at once, each order on its own DB connection. PostgreSQL here
#: allows 100 connections in all, and the workers and the relay need some of them.
PLACERS = 25
PRODUCT = "PROD-A"
#: The competing inventory processes: the Procfile's, and a second one.
INVENTORY_WORKERS = {"inventory": "inventory", "inventory-2": "inventory"}


class StockSampler(threading.Thread):
    """Reads the product's stock every few milliseconds, on its own connection, until stopped."""

    def __init__(self, product_id: int) -> None:
        super().__init__(name="stock sampler", daemon=True)
        self.product_id = product_id
        self.samples: list[int] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.samples.append(Product.objects.values_list("stock", flat=True).get(pk=self.product_id))
                time.sleep(0.005)
        finally:
            connection.close()

    def stop(self) -> list[int]:
        self.stopping.set()
        self.join(10)
        return self.samples


def process_group(pgid: int) -> set[int]:
    """The pids in a process group (a worker's main process and its prefork children)."""
    out = subprocess.run(["ps", "-o", "pid=", "-g", str(pgid)], capture_output=True, text=True, check=False).stdout
    return {int(pid) for pid in out.split()}


@pytest.mark.timeout(900 + 300)
@pytest.mark.parametrize("mode", ["command", "event"])
def test_hundred_orders_for_ten_in_stock(mode: str, catalog: None) -> None:
    label = f"concurrency / {mode} / amqp"
    with stacks.stack("amqp", name=f"concurrency {mode}", extra_workers={"inventory-2": "inventory"}) as stack:
        pids = {name: process_group(stack.workers.processes[name].pid) for name in INVENTORY_WORKERS}
        shop = run.prepare_catalog(ORDERS, sku=PRODUCT, quantity=1, stock=STOCK)
        sampler = StockSampler(shop.product_id)
        sampler.start()
        started = time.monotonic()
        order_ids = run.place_orders(ORDERS, mode=mode, catalog=shop, threads=PLACERS)
        try:
            settling.settle(
                order_ids,
                url=stack.url,
                final={Order.Status.CONFIRMED, Order.Status.CANCELLED},
                label=label,
                diagnose=stack.diagnose,
            )
        finally:
            samples = sampler.stop()
        seconds = time.monotonic() - started

    orders = Order.objects.filter(pk__in=order_ids)
    statuses = Counter(orders.values_list("status", flat=True))
    confirmed = set(orders.filter(status=Order.Status.CONFIRMED).values_list("pk", flat=True))
    cancelled = dict(orders.filter(status=Order.Status.CANCELLED).values_list("pk", "cancel_reason"))
    stock = Product.objects.get(pk=shop.product_id).stock
    reserved = dict(Reservation.objects.filter(status=Reservation.Status.RESERVED).values_list("order_id", "items"))
    cancellation_emails = Counter(
        SentEmail.objects.filter(template="order-cancelled").values_list("order_id", flat=True)
    )
    confirmation_emails = Counter(
        SentEmail.objects.filter(template="order-confirmation").values_list("order_id", flat=True)
    )
    reservation_message = "inventory.reserve" if mode == "command" else "order.placed"
    handled_by = set(
        MessageLog.objects.filter(service="inventory", name=reservation_message)
        .exclude(status=MessageLog.Status.SENT)
        .values_list("worker", flat=True)
    )
    handled_pids = {int(worker.rsplit(":", 1)[1]) for worker in handled_by}
    workers_used = sorted(name for name, group in pids.items() if group & handled_pids)
    leaked = sorted(str(pk) for pk in cancelled if pk in reserved)
    unclear = {str(pk): reason for pk, reason in cancelled.items() if "out of stock" not in reason}
    no_email = [str(pk) for pk in cancelled if cancellation_emails[pk] != 1]
    dead = DeadLetter.objects.count()

    row = checks.Row(
        fault=f"concurrency: {ORDERS} orders, stock {STOCK}, 2 inventory workers",
        mode=mode,
        broker="amqp",
        orders=ORDERS,
        lost=ORDERS - len(confirmed) - len(cancelled),
        double_applied=sum(n - 1 for n in cancellation_emails.values() if n > 1)
        + sum(n - 1 for n in confirmation_emails.values() if n > 1)
        + max(0, (STOCK - stock) - len(reserved)),
        dead_lettered=dead,
        duplicates_skipped=MessageLog.objects.filter(status=MessageLog.Status.DUPLICATE).count(),
        redelivered=checks.redelivered(),
        seconds=round(seconds, 1),
        details={
            "statuses": dict(statuses),
            "final_stock": stock,
            "min_stock_observed": min(samples) if samples else None,
            "stock_samples": len(samples),
            "reservations_held": len(reserved),
            "inventory_workers_that_reserved": workers_used,
            "cancel_reasons": Counter(reason.split("(")[0].strip() for reason in cancelled.values()).most_common(3),
        },
    )
    report.record(row)
    print(f"\n[{label}] settled after {seconds:.1f}s: {row.details}")

    assert statuses == {Order.Status.CONFIRMED: STOCK, Order.Status.CANCELLED: ORDERS - STOCK}, statuses
    assert stock == 0, f"final stock {stock}"
    assert samples, "the sampler read the stock at least once"
    assert min(samples) >= 0, f"stock went negative: {min(samples)}"
    assert set(reserved) == confirmed, "exactly the confirmed orders hold a reservation"
    assert sum(int(item["quantity"]) for items in reserved.values() for item in items) == STOCK
    assert not leaked, f"reservations held for cancelled orders: {leaked[:5]}"
    assert not unclear, f"cancelled without saying 'out of stock': {list(unclear.items())[:3]}"
    assert not no_email, f"cancelled orders without exactly one cancellation email: {no_email[:5]}"
    assert set(confirmation_emails) == confirmed and all(n == 1 for n in confirmation_emails.values())
    assert not set(cancellation_emails) & confirmed, "a confirmed order got a cancellation email"
    assert totals()["revenue"] == STOCK * Product.objects.get(pk=shop.product_id).price
    assert totals()["items_sold"] == Decimal(STOCK)
    assert dead == 0, list(DeadLetter.objects.values_list("consumer", "message_type", "reason")[:5])
    assert workers_used == sorted(INVENTORY_WORKERS), f"both inventory processes reserved; only {workers_used} did"
