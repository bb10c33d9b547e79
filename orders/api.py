"""HTTP endpoints for orders. Each view parses, calls one service or selector, and shapes the reply.

Errors are not handled here: ``OrderError`` (and its 404/409 subclasses) propagates to the
handler in ``api.site``, which turns every refusal into the same JSON shape ninja uses for its
own validation errors. Body parameters are named ``payload``: api.site strips that name from
error locations so they read ``["body", "items", 0, "quantity"]``.

``GET /api/orders/{id}`` is not here: it composes the order with the read model and the message
log, which are not the order service's to import, so it lives in ``api.order_detail``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Header, Query, Router, Status

from core.openapi import ALLOWED_FROM, STATUS_AFTER
from orders import lifecycle, replay
from orders.models import Order
from orders.schemas import (
    IDEMPOTENCY_KEY_MAX_LENGTH,
    IDEMPOTENCY_KEY_PATTERN,
    ErrorOut,
    OrderIn,
    OrderListFilters,
    OrderOut,
    OrderPageOut,
    PackIn,
    PayIn,
    ReplayedStateOut,
    ShipIn,
)
from orders.selectors import order_list, order_with_lines
from orders.services import (
    IDEMPOTENCY_HEADER,
    MAX_QUANTITY,
    IdempotencyKeyReused,
    LineRequest,
    cancel_order,
    pack_order,
    pay_order,
    place_order,
    ship_order,
)

router = Router(tags=["orders"])


def loaded(order: Order) -> Order:
    """The order with everything its reply shows (lines, failed commands), read here in the view.

    Read lazily, they were read while ninja serialized the reply: a database connection cut at
    that moment surfaced inside pydantic as a 500, for an order the request had already stored.
    Read here, the error reaches the API's handler (503, try again; api.site)."""
    return order_with_lines(order.id) or order


#: Every change to an existing order answers with the order, or names why not.
CHANGE_RESPONSES = {200: OrderOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def transition(action: str, after: str) -> dict[str, Any]:
    """What a change does to the order's status, in the document (``core.openapi``'s extensions):
    the statuses it is allowed from (else 409), and the one it leaves. Its links follow from them:
    pay's answer links to pack, never back to pay."""
    return {ALLOWED_FROM: sorted(lifecycle.ALLOWED[action]), STATUS_AFTER: after}


@router.get("/orders", response={200: OrderPageOut, 422: ErrorOut})
def list_orders(request: HttpRequest, filters: Query[OrderListFilters]) -> dict[str, Any]:
    """The write model's orders, newest first, a page at a time: ``limit`` and ``offset``, and
    ``count``, how many match in all. Strongly consistent, unlike the dashboard."""
    rows = order_list(
        mode=filters.mode,
        status=filters.status,
        customer_id=filters.customer,
        customer_name=filters.customer_name,
    )
    # Read here, not while ninja serializes the reply (see ``loaded``).
    page = list(rows[filters.offset : filters.offset + filters.limit])
    return {"count": rows.count(), "items": page}


#: What the 422 of POST /api/orders covers beyond the schema's own bounds: rules JSON Schema
#: cannot state (ids that must exist, a sum across lines), and a reused key. A reused key is 422,
#: as the IETF's Idempotency-Key draft has it: the request is well formed, but not with this key.
CREATE_REFUSALS = (
    "Refused, naming the field in `loc`: a value out of the bounds stated here; a `user_id` or `product_id` that "
    f"names no customer or product; one product on several lines adding up to more than {MAX_QUANTITY}; or an "
    f"`{IDEMPOTENCY_HEADER}` already used with a different body (`type` idempotency_key_reused, `loc` the header)."
)


@router.post(
    "/orders",
    response={201: OrderOut, 422: ErrorOut},
    openapi_extra={"responses": {"422": {"description": CREATE_REFUSALS}}, STATUS_AFTER: lifecycle.PLACED},
)
def create_order(
    request: HttpRequest,
    payload: OrderIn,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            min_length=1,
            max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description=f"Optional; 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters, e.g. a UUID "
            "the client makes per order. Retrying with the same key and body returns the order the first request "
            "created (201, the same order), never a second one. The same key with a different body is a 422.",
        ),
    ] = None,
) -> Status[Order] | Status[dict[str, Any]]:
    """201, not 200: the order row exists now; what it set off is still on its way.

    A repeat with the same ``Idempotency-Key`` answers 201 with the same order as it is now.
    """
    try:
        order = place_order(
            customer_id=payload.user_id,
            items=[LineRequest(product_id=item.product_id, quantity=item.quantity) for item in payload.items],
            mode=payload.mode.value if payload.mode else None,
            idempotency_key=idempotency_key,
            payment_token=payload.payment_token,
        )
    except IdempotencyKeyReused as exc:
        # Named where it came from, as ninja names a header it refuses: ["header", "Idempotency-Key"].
        error = {"type": "idempotency_key_reused", "loc": ["header", IDEMPOTENCY_HEADER], "msg": exc.message}
        return Status(422, {"detail": [error]})
    return Status(201, loaded(order))


@router.post("/orders/{id}/cancel", response=CHANGE_RESPONSES, openapi_extra=transition("cancel", lifecycle.CANCELLED))
def cancel(request: HttpRequest, id: uuid.UUID) -> Order:
    """409 on a second cancel rather than a silent 200, so a client learns its retry was a repeat."""
    return loaded(cancel_order(id))


@router.post("/orders/{id}/pay", response=CHANGE_RESPONSES, openapi_extra=transition("pay", lifecycle.PAID))
def pay(request: HttpRequest, id: uuid.UUID, payload: PayIn) -> Order:
    """The lesson's PaymentReceived. 409 unless the order is placed or confirmed."""
    return loaded(pay_order(id, method=payload.method))


@router.post("/orders/{id}/pack", response=CHANGE_RESPONSES, openapi_extra=transition("pack", lifecycle.PACKED))
def pack(request: HttpRequest, id: uuid.UUID, payload: PackIn) -> Order:
    """409 unless the order is paid and its stock is reserved."""
    return loaded(pack_order(id, warehouse=payload.warehouse))


@router.post("/orders/{id}/ship", response=CHANGE_RESPONSES, openapi_extra=transition("ship", lifecycle.SHIPPED))
def ship(request: HttpRequest, id: uuid.UUID, payload: ShipIn) -> Order:
    """409 unless the order is packed."""
    return loaded(ship_order(id, carrier=payload.carrier, tracking=payload.tracking))


@router.get("/orders/{id}/state", response={200: ReplayedStateOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut})
def state(
    request: HttpRequest,
    id: uuid.UUID,
    version: Annotated[
        int | None, Query(ge=1, description="Fold only the first N events of the stream. Omitted: all of them (now).")
    ] = None,
) -> replay.ReplayedState:
    """Time travel: the order's state after its first ``version`` events.

    Event mode only. A command-mode order is a 409: its row was overwritten in place at every
    change, and no history exists to replay.
    """
    return replay.state_at(id, version)
