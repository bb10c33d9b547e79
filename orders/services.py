"""Order use cases, the same in both modes. Each writes the order in one transaction and hands the
mode's messages to the outbound seam, which sends them only after commit.

Every change to an order is a lifecycle event (orders/lifecycle.py): the service checks the
transition, applies the event to the row (both modes), and tells the mode's flow, which in
event mode also appends it to the order's stream. The mode is read once per change
(``flow_for(order.mode)``), and only for a hook both flows implement (``OrderFlow``); below that
line nothing branches on it.

Why this module knows no mode: it is what both modes' reactions end in. Event mode's handlers
(orders/handlers.py) and command mode's reply task (orders/tasks.py, once the saga has walked its
plan) call the same ``confirm_order`` and ``reject_order``. Command mode's saga (the plan, the
replies, the compensation) is orders/flows/commanding.py and orders/saga.py alone; this module
imports neither. Nor do they import it: the flows package asked here (orders/flows/__init__.py)
imports both flows, so a flow importing this module would close an import cycle. That is why
the reply task, not commanding, hands the saga's verdict to this module.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Customer
from catalog.selectors import products_by_id
from contracts import cards
from contracts.fraud import risk_verdict_required
from messaging.kernel.envelope import Envelope
from orders import deadlines, lifecycle
from orders.errors import InvalidTransition, OrderError
from orders.flows import flow_for
from orders.models import FailedCommand, FlowMode, IdempotencyKey, Order, OrderLine
from orders.payloads import order_ref, priced_lines
from orders.rows import apply_event as _apply
from orders.rows import locked as _locked

MAX_QUANTITY = 1000
MAX_LINES = 50
CURRENCY = "EUR"


#: The HTTP header a client sends to make ``POST /api/orders`` safe to retry.
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class LineRequest:
    product_id: int
    quantity: int


class IdempotencyKeyReused(OrderError):
    """The key was already used for a different request: answering with its order would be wrong."""

    def __init__(self) -> None:
        super().__init__(IDEMPOTENCY_HEADER, f"{IDEMPOTENCY_HEADER} reused with a different request")


class _KeyTaken(Exception):
    """Raised inside the order's transaction to roll it back: a concurrent request won the key."""

    def __init__(self, integrity_error: IntegrityError) -> None:
        super().__init__(str(integrity_error))
        self.integrity_error = integrity_error


def place_order(
    *,
    customer_id: int,
    items: Sequence[LineRequest],
    mode: str | None = None,
    idempotency_key: str | None = None,
    payment_token: str | None = None,
) -> Order:
    """Place an order. With ``idempotency_key``, a repeat of the same request returns the first order.

    ``payment_token`` is cut to its last four characters first: nothing stores or sends a token
    (contracts/cards.py). The key is stored in the order's transaction. A concurrent duplicate
    loses on the key's unique constraint: its whole transaction (order, lines, event, outgoing
    messages) rolls back and it returns the winner's order. The same key with a different request
    raises ``IdempotencyKeyReused``.
    """
    last4 = None if payment_token is None else cards.card_last4(payment_token)
    if idempotency_key is None:
        return _place_order(customer_id=customer_id, items=items, mode=mode, card_last4=last4)
    fingerprint = request_fingerprint(customer_id=customer_id, items=items, mode=mode, card_last4=last4)
    earlier = _order_for_key(idempotency_key, fingerprint)
    if earlier is not None:
        return earlier
    try:
        key = (idempotency_key, fingerprint)
        return _place_order(customer_id=customer_id, items=items, mode=mode, card_last4=last4, key=key)
    except _KeyTaken as taken:
        # The unique constraint made us wait for the winner's commit; its key is there now.
        earlier = _order_for_key(idempotency_key, fingerprint)
        if earlier is None:
            raise taken.integrity_error from None
        return earlier


def request_fingerprint(
    *, customer_id: int, items: Sequence[LineRequest], mode: str | None, card_last4: str | None = None
) -> str:
    """sha256 of the request's canonical JSON: the validated body, keys sorted, no whitespace.

    Built from what the service acts on, so ``{"mode": null}`` and an omitted mode are one request.
    The card joins it only when given, as its last four (a short token's sha256 is brute-forced):
    the same key with another token ending in the same four characters is the same request.
    """
    body: dict[str, Any] = {
        "user_id": customer_id,
        "items": [{"product_id": item.product_id, "quantity": item.quantity} for item in items],
        "mode": mode,
    }
    if card_last4 is not None:
        body["card_last4"] = card_last4
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _order_for_key(key: str, fingerprint: str) -> Order | None:
    stored = IdempotencyKey.objects.select_related("order").filter(key=key).first()
    if stored is None:
        return None
    if stored.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    return stored.order


def _place_order(
    *,
    customer_id: int,
    items: Sequence[LineRequest],
    mode: str | None,
    card_last4: str | None = None,
    key: tuple[str, str] | None = None,
) -> Order:
    mode = mode or settings.SHOP_FLOW_MODE
    if mode not in FlowMode.values:
        raise OrderError("mode", f"mode must be one of {FlowMode.values}, not {mode!r}")
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise OrderError("user_id", f"no customer with id {customer_id}")
    lines = _merge_lines(items)
    products = products_by_id(lines)
    for index, item in enumerate(items):
        if item.product_id not in products:
            raise OrderError(f"items.{index}.product_id", f"no product with id {item.product_id}")

    with transaction.atomic():
        order = Order.objects.create(
            customer=customer,
            mode=mode,
            card_last4=card_last4 or cards.DEFAULT_CARD_LAST4,
            total=sum((products[pid].price * qty for pid, qty in lines.items()), Decimal("0")),
        )
        if key is not None:
            # Before anything else is written: a concurrent duplicate waits here for the winner's
            # commit (PostgreSQL's unique index; SQLite's single writer), then fails.
            try:
                with transaction.atomic():
                    IdempotencyKey.objects.create(key=key[0], fingerprint=key[1], order=order)
            except IntegrityError as exc:
                raise _KeyTaken(exc) from exc
        OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                product=products[pid],
                sku=products[pid].sku,
                quantity=qty,
                unit_price=products[pid].price,
            )
            for pid, qty in sorted(lines.items())
        )
        data = {
            **order_ref(order),
            "user_id": customer.pk,
            "items": priced_lines(order),
            "amount": str(order.total),
            "currency": CURRENCY,
            "placed_at": order.placed_at.isoformat(),
            "card_last4": order.card_last4,
        }
        _apply(order, "order.placed", data)
        deadlines.arm(order)
        flow_for(order.mode).placed(order, data=data)
    return order


def cancel_order(order_id: uuid.UUID, *, reason: str = "cancelled by the customer") -> Order:
    with transaction.atomic():
        order = _locked(order_id)
        if order.status == Order.Status.CANCELLED:
            raise InvalidTransition("status", "the order is already cancelled")
        lifecycle.check("cancel", order.status)
        data = cancellation(order, reason)
        _apply(order, "order.cancelled", data)
        deadlines.disarm(order)
        flow_for(order.mode).cancelled(order, data=data, cause=None)
    return order


def confirm_order(order_id: uuid.UUID, *, cause: Envelope) -> Order:
    """Stock is reserved and payment authorized. The order is confirmed, unless it still waits
    for its risk verdict or is held: then it is confirmed after the verdict or the release."""
    with transaction.atomic():
        order = _locked(order_id)
        _secured(order, cause)
    return order


def reject_order(order_id: uuid.UUID, *, reason: str, cause: Envelope) -> Order:
    """A step of the fulfilment failed (no stock, payment declined): the order is cancelled,
    what took effect is undone, and the customer told."""
    with transaction.atomic():
        order = _locked(order_id)
        _reject(order, reason, cause)
    return order


def expire_order(order_id: uuid.UUID, *, cause: Envelope) -> Order:
    """The deadline fired (orders/deadlines.py). An order settled in time is left alone; one
    still waiting is cancelled, and every step that did or may still take effect is undone."""
    with transaction.atomic():
        order = _locked(order_id)
        waiting = order.reserved_at is None and order.authorized_at is None
        if waiting and order.status != Order.Status.CANCELLED:
            _expire(order, cause)
    return order


def awaiting_review(order: Order) -> bool:
    """Held, or not yet judged by fraud (when fraud is installed): nothing final may happen."""
    return order.status == Order.Status.ON_HOLD or (risk_verdict_required() and order.risk_score is None)


def _secured(order: Order, cause: Envelope) -> None:
    """The fulfilment's last step answered: stock reserved, payment authorized."""
    if order.reserved_at is not None or order.authorized_at is not None or order.status == Order.Status.CANCELLED:
        return  # already confirmed or waiting, or cancelled meanwhile (the cancel undid the steps)
    if deadlines.passed(order):
        # The last answer came after the deadline. The timer may simply not have been handled
        # yet (a busy worker, a relay that was down): the deadline is the rule, not the timer.
        _expire(order, cause)
        return
    deadlines.disarm(order)  # the steps finished in time; a person may take as long as needed
    if awaiting_review(order):
        data = {**order_ref(order), "authorized_at": timezone.now().isoformat()}
        _apply(order, "order.authorized", data)
        flow_for(order.mode).awaiting_review(order, data=data, cause=cause)
        return
    _confirm(order, cause)


def confirm_if_secured(order: Order, cause: Envelope | None) -> None:
    """After a verdict or a release: confirm an order whose stock and payment were secured."""
    waiting = order.authorized_at is not None and order.reserved_at is None
    if waiting and order.status != Order.Status.CANCELLED and not awaiting_review(order):
        _confirm(order, cause)


def _confirm(order: Order, cause: Envelope | None) -> None:
    data = {
        **order_ref(order),
        "user_id": order.customer_id,
        "items": priced_lines(order),
        "total": str(order.total),
        "confirmed_at": timezone.now().isoformat(),
    }
    _apply(order, "order.confirmed", data)
    flow_for(order.mode).confirmed(order, data=data, cause=cause)


def _expire(order: Order, cause: Envelope) -> None:
    data = cancellation(order, deadlines.reason(order))
    _apply(order, "order.cancelled", data)
    flow_for(order.mode).timed_out(order, data=data, cause=cause)


def _reject(order: Order, reason: str, cause: Envelope) -> None:
    if order.status == Order.Status.CANCELLED:
        return
    data = cancellation(order, reason)
    _apply(order, "order.cancelled", data)
    deadlines.disarm(order)
    flow_for(order.mode).rejected(order, data=data, cause=cause)


def pay_order(order_id: uuid.UUID, *, method: str) -> Order:
    return _advance(order_id, "pay", "order.paid", {"method": method, "paid_at": timezone.now().isoformat()})


def pack_order(order_id: uuid.UUID, *, warehouse: str) -> Order:
    return _advance(order_id, "pack", "order.packed", {"warehouse": warehouse, "packed_at": timezone.now().isoformat()})


def ship_order(order_id: uuid.UUID, *, carrier: str, tracking: str) -> Order:
    facts = {"carrier": carrier, "tracking": tracking, "shipped_at": timezone.now().isoformat()}
    return _advance(order_id, "ship", "order.shipped", facts)


def note_command_failure(order_id: uuid.UUID, *, command: str, command_id: uuid.UUID, error: str) -> None:
    FailedCommand.objects.get_or_create(
        command_id=command_id, defaults={"order_id": order_id, "command": command, "error": error}
    )


def _advance(order_id: uuid.UUID, action: str, event_type: str, facts: dict[str, Any]) -> Order:
    with transaction.atomic():
        order = _locked(order_id)
        lifecycle.check(action, order.status)
        if action == "pack" and order.reserved_at is None:
            raise InvalidTransition("status", "cannot pack an order whose stock is not reserved yet")
        data = {**order_ref(order), **facts}
        _apply(order, event_type, data)
        flow_for(order.mode).progressed(order, event_type=event_type, data=data)
    return order


def cancellation(order: Order, reason: str) -> dict[str, Any]:
    return {
        **order_ref(order),
        "user_id": order.customer_id,
        "reason": reason,
        "cancelled_at": timezone.now().isoformat(),
    }


def _merge_lines(items: Sequence[LineRequest]) -> dict[int, int]:
    if not items:
        raise OrderError("items", "an order needs at least one item")
    if len(items) > MAX_LINES:
        raise OrderError("items", f"at most {MAX_LINES} lines per order")
    merged: dict[int, int] = {}
    for index, item in enumerate(items):
        if not 0 < item.quantity <= MAX_QUANTITY:
            raise OrderError(f"items.{index}.quantity", f"quantity must be between 1 and {MAX_QUANTITY}")
        merged[item.product_id] = merged.get(item.product_id, 0) + item.quantity
    if any(q > MAX_QUANTITY for q in merged.values()):
        raise OrderError("items", f"at most {MAX_QUANTITY} of one product per order")
    return merged
