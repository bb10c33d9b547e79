"""Drives one order flow (mode × broker) and waits for it to settle, for the comparison suite."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from catalog.models import Customer, Product
from orders import services
from orders.models import Order
from shop.messaging import subscriptions
from shop.models import MessageLog

TIMEOUT = 30.0
QUIET = 0.6


@dataclass
class Flow:
    mode: str
    broker: str

    def place(self, email: str, *lines: tuple[str, int], token: str | None = None) -> Order:
        customer = Customer.objects.get(email=email)
        items = [services.LineRequest(Product.objects.get(sku=sku).pk, qty) for sku, qty in lines]
        return services.place_order(customer_id=customer.pk, items=items, mode=self.mode, payment_token=token)

    def cancel(self, order_id: uuid.UUID) -> Order:
        return services.cancel_order(order_id)

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"[{self.mode}/{self.broker}] timed out after {timeout}s waiting for {what}")
            time.sleep(0.05)

    def settle(self, order_id: uuid.UUID, timeout: float = TIMEOUT) -> Order:
        """Wait until the order's message log stops growing: every consequence has landed."""
        deadline = time.monotonic() + timeout
        last, quiet_since = -1, time.monotonic()
        while True:
            count = MessageLog.objects.filter(correlation_id=str(order_id)).count()
            now = time.monotonic()
            if count != last:
                last, quiet_since = count, now
            elif count and now - quiet_since >= QUIET and _nothing_in_flight(order_id):
                return Order.objects.get(pk=order_id)
            if now > deadline:
                raise AssertionError(
                    f"[{self.mode}/{self.broker}] order {order_id} did not settle in {timeout}s:\n" + trace(order_id)
                )
            time.sleep(0.05)

    @staticmethod
    def stock(sku: str) -> int:
        return Product.objects.get(sku=sku).stock


def trace(order_id: uuid.UUID) -> str:
    rows = MessageLog.objects.filter(correlation_id=str(order_id)).order_by("created_at", "id")
    return "\n".join(f"  {r.status:>13} {r.kind:7} {r.name:28} {r.service:13} {r.route} {r.error}" for r in rows)


def _nothing_in_flight(order_id: uuid.UUID) -> bool:
    """Every sent message has been handled (or dead-lettered) by at least one consumer."""
    rows = MessageLog.objects.filter(correlation_id=str(order_id))
    sent = set(rows.filter(status=MessageLog.Status.SENT).values_list("message_id", flat=True))
    done = set(rows.exclude(status=MessageLog.Status.SENT).values_list("message_id", flat=True))
    # Events no installed service subscribes to (inventory.released) are never handled; they
    # are in flight for no one. Everything else must be handled somewhere.
    unhandled = sent - done
    if not unhandled:
        return True
    pending = rows.filter(message_id__in=unhandled)
    if pending.filter(kind="command").exists():
        return False  # every command has exactly one handler
    return not set(pending.values_list("name", flat=True)) & set(subscriptions.table())


def money(value: str) -> Decimal:
    return Decimal(value)
