"""Event mode: payments decides for itself when an order's money should be held or released."""

from __future__ import annotations

import uuid

import contracts.payments  # noqa: F401  (registers the payment.* events published below)
from contracts.inventory import StockReserved
from contracts.orders import OrderCancelled, OrderPlaced
from messaging.kernel.envelope import Envelope
from messaging.kernel.subscriptions import Subscriber
from messaging.kernel.wiring import bus
from payments import services
from payments.models import Authorization

SERVICE = "payments"
payments = Subscriber(SERVICE)


def _issuer_if_order_completes(envelope: Envelope, event: OrderPlaced) -> None:
    """Outside the transaction: if the stock is already reserved, this event lets payments
    decide, so ask the (slow) issuer first."""
    waiting = Authorization.objects.filter(order_id=event.order_id, status=Authorization.Status.AWAITING_ORDER)
    if waiting.exists():
        services.wait_for_issuer(event.card_last4)


def _issuer_if_stock_completes(envelope: Envelope, event: StockReserved) -> None:
    """Outside the transaction: if the order is already known, this event lets payments decide."""
    known = Authorization.objects.filter(order_id=event.order_id, status=Authorization.Status.REQUESTED).first()
    if known is not None:
        services.wait_for_issuer(known.token_last4)


@payments.on("order.placed", before=_issuer_if_order_completes)
def request_for_order(envelope: Envelope, event: OrderPlaced) -> str:
    authorization = services.request_authorization(event.order_id, event.amount, event.currency, event.card_last4)
    if authorization.status == Authorization.Status.VOIDED:
        return "not requested: the order was cancelled first"
    if services.ready(event.order_id):
        return _decide(envelope, event.order_id)
    return f"requested {authorization.amount} {authorization.currency} (token ending {authorization.token_last4})"


@payments.on("inventory.reserved", before=_issuer_if_stock_completes)
def authorize_when_reserved(envelope: Envelope, event: StockReserved) -> str:
    authorization = services.note_stock_reserved(event.order_id)
    if services.ready(event.order_id):
        return _decide(envelope, event.order_id)
    if authorization.status == Authorization.Status.AWAITING_ORDER:
        return "stock reserved before the order reached payments: deciding when it does"
    return f"not authorized: the authorization is {authorization.status} (nothing published)"


def _decide(envelope: Envelope, order_id: uuid.UUID) -> str:
    """Both facts are in: authorize, and state the outcome as a fact either way."""
    authorization = services.authorize(order_id)
    if authorization.status == Authorization.Status.AUTHORIZED:
        bus().events.publish(
            "payment.authorized",
            {"order_id": str(order_id), "amount": str(authorization.amount), "currency": authorization.currency},
            producer=SERVICE,
            caused_by=envelope,
        )
        return f"authorized {authorization.amount} {authorization.currency}"
    if authorization.status == Authorization.Status.DECLINED:
        # A decline is a business outcome, not a handler failure: state it as a fact.
        bus().events.publish(
            "payment.declined",
            {"order_id": str(order_id), "reason": authorization.reason},
            producer=SERVICE,
            caused_by=envelope,
        )
        return f"declined: {authorization.reason}"
    return "not authorized: the order was cancelled first (nothing published)"


@payments.on("order.cancelled")
def void_for_order(envelope: Envelope, event: OrderCancelled) -> str:
    if services.void(event.order_id):
        bus().events.publish(
            "payment.voided",
            {"order_id": str(event.order_id)},
            producer=SERVICE,
            caused_by=envelope,
        )
        return "voided the authorization"
    return "nothing was authorized"
