"""Command mode: the order service tells each downstream service what to do.

Every consumer is named in this file, with the queue its command goes to
(CELERY_TASK_ROUTES), and every failure it must hear about. Adding a consumer means editing
this file: that is the coupling the lesson describes, kept in plain sight on purpose.

How the producer learns that a command failed: each command carries a return address
(``on_failure=...``). After the consumer's retries run out, the messaging core sends the
outcome back to orders as that command (shop/messaging/consuming.py). A failed reservation
comes back as ``orders.reject``, which cancels the order, so no confirmation email goes out.
"""

from __future__ import annotations

from typing import Any

from orders.flows.payloads import order_ref, priced_lines, stock_lines
from orders.models import Order
from shop.messaging.bootstrap import bus
from shop.messaging.envelope import Envelope

PRODUCER = "orders"


def placed(order: Order, *, data: dict[str, Any]) -> None:
    commands = bus().commands
    correlation = str(order.id)
    commands.send(  # -> queue inventory.reserve
        "inventory.reserve",
        {**order_ref(order), "items": stock_lines(order)},
        producer=PRODUCER,
        correlation_id=correlation,
        on_success="orders.confirm",
        on_failure="orders.reject",
    )
    commands.send(  # -> queue fraud.check
        "fraud.check",
        {**order_ref(order), "user_id": order.customer_id, "items": priced_lines(order), "total": str(order.total)},
        producer=PRODUCER,
        correlation_id=correlation,
        on_success="orders.review_risk",
        on_failure="orders.note_failure",
    )


def confirmed(order: Order, *, data: dict[str, Any], cause: Envelope) -> None:
    commands = bus().commands
    commands.send(  # -> queue email.send
        "email.send",
        {
            "to": order.customer.email,
            "template": "order-confirmation",
            "data": {**order_ref(order), "total": str(order.total), "customer_name": order.customer.name},
        },
        producer=PRODUCER,
        caused_by=cause,
        on_failure="orders.note_failure",
    )
    commands.send(  # -> queue analytics.record
        "analytics.record",
        {**order_ref(order), "revenue": str(order.total), "items_sold": order.item_count},
        producer=PRODUCER,
        caused_by=cause,
        on_failure="orders.note_failure",
    )


def cancelled(order: Order, *, data: dict[str, Any], cause: Envelope | None) -> None:
    commands = bus().commands
    commands.send(  # -> queue inventory.release
        "inventory.release",
        order_ref(order),
        producer=PRODUCER,
        correlation_id=str(order.id),
        caused_by=cause,
        on_failure="orders.note_failure",
    )
    _send_cancellation_email(order, cause)


def rejected(order: Order, *, data: dict[str, Any], cause: Envelope) -> None:
    # Nothing was reserved (a reservation is all or nothing), so only the customer is told.
    _send_cancellation_email(order, cause)


def held(order: Order, *, data: dict[str, Any], cause: Envelope | None) -> None:
    """Nobody else needs to know: the hold blocks payment and shipping inside orders."""


def progressed(order: Order, *, event_type: str, data: dict[str, Any]) -> None:
    """Paid, packed, shipped: command mode just overwrote the row; nothing is sent, and no
    history is kept."""


def _send_cancellation_email(order: Order, cause: Envelope | None) -> None:
    bus().commands.send(  # -> queue email.send
        "email.send",
        {
            "to": order.customer.email,
            "template": "order-cancelled",
            "data": {**order_ref(order), "reason": order.cancel_reason, "customer_name": order.customer.name},
        },
        producer=PRODUCER,
        correlation_id=str(order.id),
        caused_by=cause,
        on_failure="orders.note_failure",
    )
