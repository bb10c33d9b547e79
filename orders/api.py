"""HTTP endpoints for orders. Each view parses, calls one service or selector, and shapes the reply.

Errors are not handled here: ``OrderError`` (and its 404/409 subclasses) propagates to the
handler in ``shop.api``, which turns every refusal into the same JSON shape ninja uses for its
own validation errors. Body parameters are named ``payload``: shop.api strips that name from
error locations so they read ``["body", "items", 0, "quantity"]``.
"""

from __future__ import annotations

import uuid

from django.http import HttpRequest
from ninja import Router, Status

from orders.errors import OrderNotFound
from orders.models import FlowMode, Order
from orders.schemas import ErrorOut, HistoryOut, OrderDetailOut, OrderIn, OrderOut
from orders.selectors import messages_caused_by, order_with_lines
from orders.services import LineRequest, cancel_order, place_order

router = Router(tags=["orders"])


@router.post("/orders", response={201: OrderOut, 422: ErrorOut})
def create_order(request: HttpRequest, payload: OrderIn) -> Status[Order]:
    """201, not 200: the order row exists now; what it set off is still on its way."""
    order = place_order(
        customer_id=payload.user_id,
        items=[LineRequest(product_id=item.product_id, quantity=item.quantity) for item in payload.items],
        mode=payload.mode.value if payload.mode else None,
    )
    return Status(201, order)


@router.post("/orders/{id}/cancel", response={200: OrderOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut})
def cancel(request: HttpRequest, id: uuid.UUID) -> Order:
    """409 on a second cancel rather than a silent 200, so a client learns its retry was a repeat."""
    return cancel_order(id)


@router.get("/orders/{id}", response={200: OrderDetailOut, 404: ErrorOut, 422: ErrorOut})
def order_detail(request: HttpRequest, id: uuid.UUID) -> OrderDetailOut:
    """The write model next to the message log: one request shows what the order set off in its mode."""
    order = order_with_lines(id)
    if order is None:
        raise OrderNotFound("id", f"no order with id {id}")
    return OrderDetailOut.model_validate(
        {
            **OrderOut.model_validate(order).model_dump(),
            "messages": list(messages_caused_by(order.id)),
            "history": _history(order),
        }
    )


def _history(order: Order) -> HistoryOut:
    # A placeholder under the final field name: the event store (a later issue) fills it in.
    if order.mode == FlowMode.COMMAND:
        return HistoryOut(available=False, note="command mode overwrites the order row in place; no history exists")
    return HistoryOut(
        available=False,
        note="event mode will keep this order's events in an event store; it is not built yet, so nothing to replay",
    )
