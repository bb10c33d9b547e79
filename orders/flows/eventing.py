"""Event mode: the order service states what happened, once, to the ``events`` exchange.

No consumer is named here. Inventory, analytics, fraud detection, notifications (and later the
read-model projector) each subscribe from their own app; adding one changes nothing in this
file.
"""

from __future__ import annotations

from django.utils import timezone

from orders.flows.payloads import order_ref, priced_lines
from orders.models import Order
from shop.messaging.bootstrap import bus
from shop.messaging.envelope import Envelope

PRODUCER = "orders"


def placed(order: Order) -> None:
    bus().events.publish(
        "order.placed",
        {
            **order_ref(order),
            "user_id": order.customer_id,
            "items": priced_lines(order),
            "total": str(order.total),
            "placed_at": order.placed_at.isoformat(),
        },
        producer=PRODUCER,
        correlation_id=str(order.id),
    )


def confirmed(order: Order, *, cause: Envelope) -> None:
    bus().events.publish(
        "order.confirmed",
        {
            **order_ref(order),
            "user_id": order.customer_id,
            "items": priced_lines(order),
            "total": str(order.total),
            "confirmed_at": (order.reserved_at or timezone.now()).isoformat(),
        },
        producer=PRODUCER,
        caused_by=cause,
    )


def cancelled(order: Order, *, cause: Envelope | None) -> None:
    bus().events.publish(
        "order.cancelled",
        {
            **order_ref(order),
            "user_id": order.customer_id,
            "reason": order.cancel_reason,
            "cancelled_at": timezone.now().isoformat(),
        },
        producer=PRODUCER,
        correlation_id=str(order.id),
        caused_by=cause,
    )


def rejected(order: Order, *, cause: Envelope) -> None:
    cancelled(order, cause=cause)
