"""Event mode: notifications decides which facts deserve an email, and to whom."""

from __future__ import annotations

from catalog.selectors import customer
from contracts.orders import OrderCancelled, OrderConfirmed
from messaging.kernel.envelope import Envelope
from messaging.kernel.subscriptions import Subscriber
from notifications import services

notifications = Subscriber("notifications")


@notifications.on("order.confirmed")
def send_confirmation(envelope: Envelope, event: OrderConfirmed) -> str:
    buyer = customer(event.user_id)
    if buyer is None:
        raise LookupError(f"customer {event.user_id} not found")
    services.send_order_email(
        to=buyer.email,
        template="order-confirmation",
        data={"order_id": str(event.order_id), "total": str(event.total), "customer_name": buyer.name},
    )
    return f"emailed {buyer.email}: order-confirmation"


@notifications.on("order.cancelled")
def send_cancellation(envelope: Envelope, event: OrderCancelled) -> str:
    buyer = customer(event.user_id)
    if buyer is None:
        raise LookupError(f"customer {event.user_id} not found")
    services.send_order_email(
        to=buyer.email,
        template="order-cancelled",
        data={"order_id": str(event.order_id), "reason": event.reason, "customer_name": buyer.name},
    )
    return f"emailed {buyer.email}: order-cancelled"
