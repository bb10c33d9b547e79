"""Event mode: what orders does when other services state their facts.

Orders subscribes to event *names* from the published language (contracts); it imports
none of the apps that publish them.
"""

from __future__ import annotations

from contracts.fraud import OrderCleared, OrderFlagged
from contracts.inventory import StockReservationFailed
from contracts.payments import PaymentAuthorized, PaymentDeclined
from messaging.kernel.envelope import Envelope
from messaging.kernel.subscriptions import Subscriber
from orders import review, services

orders = Subscriber("orders")


@orders.on("payment.authorized")
def confirm_when_paid(envelope: Envelope, event: PaymentAuthorized) -> str:
    """The last step of the choreographed saga: stock is reserved (payments only authorizes
    after ``inventory.reserved``) and the money is held. Confirmed now, or once fraud's verdict
    or a person's release is in (orders/review.py)."""
    order = services.confirm_order(event.order_id, cause=envelope)
    return f"order {order.status}"


@orders.on("inventory.reservation_failed")
def reject_when_unavailable(envelope: Envelope, event: StockReservationFailed) -> str:
    services.reject_order(event.order_id, reason=event.reason, cause=envelope)
    return f"order cancelled: {event.reason}"


@orders.on("payment.declined")
def reject_when_declined(envelope: Envelope, event: PaymentDeclined) -> str:
    # Orders only states the cancellation; inventory releases on it by itself.
    services.reject_order(event.order_id, reason=event.reason, cause=envelope)
    return f"order cancelled: {event.reason}"


@orders.on("order.flagged")
def hold_when_flagged(envelope: Envelope, event: OrderFlagged) -> str:
    order = review.hold_order(event.order_id, risk_score=event.risk_score, reasons=event.reasons, cause=envelope)
    return f"order {order.status} (risk {event.risk_score})"


@orders.on("order.cleared")
def record_when_cleared(envelope: Envelope, event: OrderCleared) -> str:
    order = review.clear_order(event.order_id, risk_score=event.risk_score, cause=envelope)
    return f"order {order.status} (risk {event.risk_score})"
