"""The fault tier's runs: what one run places, and how, while one thing goes wrong.

One run = one stoppable broker (a RabbitMQ vhost of its own, or a private Redis that persists
every write; never the machine's shared brokers as such, since runs stop them), one worker
process per service from the Procfile and the outbox relay as its own process (all three kept
by tests/faults/stacks.py), and this process placing orders through
``orders.services.place_order`` with the outbox (the default dispatch), while a ``Background``
thread injects the fault.

Then the run settles (tests/faults/settling.py: ``settle`` waits, bounded, until nothing is left
to happen), ``check`` compares the effects with what N orders must produce and returns one report
row (tests/faults/checks.py), and ``record`` keeps the row for the session's table and
``var/fault-report.json`` (tests/faults/report.py).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.db import connection

from catalog.models import Customer, Product
from orders import services

#: Orders per run; lower it while developing (SHOP_FAULT_ORDERS=60). At 200 a run logs 2,600
#: (event mode) to 3,200 (command mode) sends and handlings, and the kill, the restart and the
#: outage each land while messages are in every state (queued, prefetched, mid-transaction).
#: Until 2026-12 it was 500: the same checks, at 2.5 times the time.
ORDERS = int(os.environ.get("SHOP_FAULT_ORDERS", "200"))
#: Threads placing orders otherwise, each order on its own connection: the orders arrive
#: concurrently, as from several web processes, and a run spends its time on the fault.
PLACERS = 4

CUSTOMER = "ada@example.com"  # not flagged by fraud (fraud/scoring.py)
PRODUCT = "PROD-D"  # 4.50: QUANTITY of them stays far below the high-value and bulk rules
QUANTITY = 2


class Background(threading.Thread):
    """A fault injected while this process keeps placing orders; ``join`` re-raises its error."""

    def __init__(self, name: str, action: Callable[[], None]) -> None:
        super().__init__(name=name, daemon=True)
        self.action = action
        self.error: BaseException | None = None
        self.seconds = 0.0

    def run(self) -> None:
        started = time.monotonic()
        try:
            self.action()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread in join()
            self.error = exc
        finally:
            self.seconds = time.monotonic() - started

    def finish(self, timeout: float = 300) -> float:
        self.join(timeout)
        if self.is_alive():
            raise AssertionError(f"{self.name} did not finish in {timeout}s")
        if self.error is not None:
            raise AssertionError(f"{self.name} failed: {self.error!r}") from self.error
        return self.seconds


# --- Orders ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalog:
    customer_id: int
    product_id: int
    quantity: int
    start_stock: int


def prepare_catalog(orders: int, *, sku: str = PRODUCT, quantity: int = QUANTITY, stock: int | None = None) -> Catalog:
    """The customer, and the product with a known stock (enough for every order unless given)."""
    start = stock if stock is not None else orders * quantity + 100
    Product.objects.filter(sku=sku).update(stock=start)
    return Catalog(
        customer_id=Customer.objects.get(email=CUSTOMER).pk,
        product_id=Product.objects.get(sku=sku).pk,
        quantity=quantity,
        start_stock=start,
    )


def place_orders(count: int, *, mode: str, catalog: Catalog, threads: int = 1) -> list[uuid.UUID]:
    """Place ``count`` orders; with ``threads`` > 1, concurrently, one DB connection per order."""

    def one(_: int) -> uuid.UUID:
        try:
            items = [services.LineRequest(catalog.product_id, catalog.quantity)]
            return services.place_order(customer_id=catalog.customer_id, items=items, mode=mode).id
        finally:
            if threads > 1:
                connection.close()

    if threads <= 1:
        return [one(i) for i in range(count)]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="place") as pool:
        return list(pool.map(one, range(count)))
