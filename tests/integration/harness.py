"""Drives one order flow (mode × broker) and waits for it to settle, for the comparison suite."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from catalog.models import Customer, Product
from core.models import MessageLog, OutboxMessage
from messaging.kernel import subscriptions
from messaging.kernel.names import Kind
from messaging.kernel.outbound import due
from orders import review, services
from orders.models import Order

TIMEOUT = 30.0
#: How long a flow's message log must stay unchanged, on top of nothing being in flight.
QUIET = 0.2


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

    def release(self, order_id: uuid.UUID, by: str = "alice") -> Order:
        """A member of staff releases the held order (as the admin action and the staff API do)."""
        return review.release_hold(order_id, reviewed_by=by)

    def reject(self, order_id: uuid.UUID, by: str = "alice") -> Order:
        return review.reject_hold(order_id, reviewed_by=by)

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"[{self.mode}/{self.broker}] timed out after {timeout}s waiting for {what}")
            time.sleep(0.05)

    def settle(self, order_id: uuid.UUID, timeout: float = TIMEOUT) -> Order:
        """Wait until every consequence of the order has landed (see ``settle_all``)."""
        return self.settle_all([order_id], timeout)[0]

    def settle_all(self, order_ids: list[uuid.UUID], timeout: float = TIMEOUT) -> list[Order]:
        """Wait until nothing the orders caused is left to happen: no message of theirs waits in
        the outbox, every one sent was handled by each consumer it was for, and their message
        log has not grown for ``QUIET`` seconds (a margin, not the test: the first two say it)."""
        correlation_ids = [str(order_id) for order_id in order_ids]
        deadline = time.monotonic() + timeout
        last, quiet_since = -1, time.monotonic()
        while True:
            count = MessageLog.objects.filter(correlation_id__in=correlation_ids).count()
            now = time.monotonic()
            if count != last:
                last, quiet_since = count, now
            elif count and now - quiet_since >= QUIET and not _in_flight(correlation_ids):
                orders = Order.objects.in_bulk(order_ids)
                return [orders[order_id] for order_id in order_ids]
            if now > deadline:
                waiting = "\n".join(f"  {what}" for what in _in_flight(correlation_ids))
                raise AssertionError(
                    f"[{self.mode}/{self.broker}] orders {correlation_ids[:3]}... did not settle in {timeout}s; "
                    f"in flight:\n{waiting}\n" + "\n".join(trace(order_id) for order_id in order_ids[:3])
                )
            time.sleep(0.05)

    @staticmethod
    def stock(sku: str) -> int:
        return Product.objects.get(sku=sku).stock


def trace(order_id: uuid.UUID) -> str:
    rows = MessageLog.objects.filter(correlation_id=str(order_id)).order_by("created_at", "id")
    return "\n".join(f"  {r.status:>13} {r.kind:7} {r.name:28} {r.service:13} {r.route} {r.error}" for r in rows)


def _in_flight(correlation_ids: list[str]) -> list[str]:
    """What the flows still owe: outbox rows due and not sent, and messages sent that a
    consumer they were for has not logged an outcome for (a command has one consumer; an event
    one per subscribing service, and none at all for an event nobody subscribes to)."""
    owed = [
        f"{name}: in the outbox, not sent"
        for name in OutboxMessage.objects.filter(
            due(), sent_at__isnull=True, envelope__correlation_id__in=correlation_ids
        ).values_list("name", flat=True)
    ]
    rows = MessageLog.objects.filter(correlation_id__in=correlation_ids)
    done = set(rows.exclude(status=MessageLog.Status.SENT).values_list("message_id", "service"))
    handled = {message_id for message_id, _ in done}
    table = subscriptions.table()
    for message_id, kind, name in rows.filter(status=MessageLog.Status.SENT).values_list("message_id", "kind", "name"):
        if kind == Kind.COMMAND.value:
            if message_id not in handled:
                owed.append(f"{name}: sent, not handled")
            continue
        owed += [f"{name}: not handled by {s}" for s in table.get(name, []) if (message_id, s) not in done]
    return owed


def money(value: str) -> Decimal:
    return Decimal(value)
