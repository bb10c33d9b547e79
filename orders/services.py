"""Order use cases. Each writes the order in one transaction and hands the mode's messages to
the outbound seam, which sends them only after commit.

The mode is read once per order (``flow_for(order.mode)``); below that line nothing branches
on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.models import Customer
from catalog.selectors import products_by_id
from orders.errors import InvalidTransition, OrderError, OrderNotFound
from orders.flows import flow_for
from orders.models import FailedCommand, FlowMode, Order, OrderLine
from shop.messaging.envelope import Envelope

MAX_QUANTITY = 1000
MAX_LINES = 50


@dataclass(frozen=True)
class LineRequest:
    product_id: int
    quantity: int


def place_order(*, customer_id: int, items: Sequence[LineRequest], mode: str | None = None) -> Order:
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
            total=sum((products[pid].price * qty for pid, qty in lines.items()), Decimal("0")),
        )
        OrderLine.objects.bulk_create(
            OrderLine(
                order=order, product=products[pid], sku=products[pid].sku, quantity=qty, unit_price=products[pid].price
            )
            for pid, qty in sorted(lines.items())
        )
        flow_for(order.mode).placed(order)
    return order


def cancel_order(order_id: uuid.UUID, *, reason: str = "cancelled by the customer") -> Order:
    with transaction.atomic():
        order = _locked(order_id)
        if order.status == Order.Status.CANCELLED:
            raise InvalidTransition("status", "the order is already cancelled")
        order.status = Order.Status.CANCELLED
        order.cancel_reason = reason
        order.save(update_fields=["status", "cancel_reason", "updated_at"])
        flow_for(order.mode).cancelled(order, cause=None)
    return order


def confirm_order(order_id: uuid.UUID, *, cause: Envelope) -> Order:
    """Stock is reserved. A held order stays on hold, but is confirmed all the same."""
    with transaction.atomic():
        order = _locked(order_id)
        if order.reserved_at is not None or order.status == Order.Status.CANCELLED:
            return order  # already confirmed, or cancelled meanwhile (the cancel released it)
        order.reserved_at = timezone.now()
        if order.status == Order.Status.PLACED:
            order.status = Order.Status.CONFIRMED
        order.save(update_fields=["reserved_at", "status", "updated_at"])
        flow_for(order.mode).confirmed(order, cause=cause)
    return order


def reject_order(order_id: uuid.UUID, *, reason: str, cause: Envelope) -> Order:
    """Inventory could not reserve the stock: the order is cancelled and the customer told."""
    with transaction.atomic():
        order = _locked(order_id)
        if order.status == Order.Status.CANCELLED:
            return order
        order.status = Order.Status.CANCELLED
        order.cancel_reason = reason
        order.save(update_fields=["status", "cancel_reason", "updated_at"])
        flow_for(order.mode).rejected(order, cause=cause)
    return order


def hold_order(order_id: uuid.UUID, *, risk_score: float, reasons: Sequence[str]) -> Order:
    with transaction.atomic():
        order = _locked(order_id)
        order.risk_score = risk_score
        order.hold_reason = "; ".join(reasons)
        if order.status in (Order.Status.PLACED, Order.Status.CONFIRMED):
            order.status = Order.Status.ON_HOLD
        order.save(update_fields=["risk_score", "hold_reason", "status", "updated_at"])
    return order


def record_risk(order_id: uuid.UUID, *, risk_score: float) -> None:
    Order.objects.filter(pk=order_id).update(risk_score=risk_score)


def note_command_failure(order_id: uuid.UUID, *, command: str, command_id: uuid.UUID, error: str) -> None:
    FailedCommand.objects.get_or_create(
        command_id=command_id, defaults={"order_id": order_id, "command": command, "error": error}
    )


def _locked(order_id: uuid.UUID) -> Order:
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise OrderNotFound("id", f"no order with id {order_id}")
    return order


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
