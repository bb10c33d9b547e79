"""The order row as lifecycle state: the one place an event is applied to the row.

Both modes change an order only through ``apply_event``: the same ``lifecycle.evolve`` that
replay folds over an event-mode stream, so the row and the replay cannot disagree by design.
"""

from __future__ import annotations

import uuid
from typing import Any

from core.rows import Select
from orders import lifecycle
from orders.errors import OrderNotFound
from orders.models import Order

#: Order row field <- lifecycle state key
ROW_FIELDS = {
    "status": "status",
    "reserved_at": "reserved_at",
    "authorized_at": "authorized_at",
    "risk_score": "risk_score",
    "hold_reason": "hold_reason",
    "reviewed_by": "reviewed_by",
    "reviewed_at": "reviewed_at",
    "cancel_reason": "cancel_reason",
    "payment_method": "payment_method",
    "warehouse": "warehouse",
    "carrier": "carrier",
    "tracking": "tracking",
    "shipped_at": "shipped_at",
}


def apply_event(order: Order, event_type: str, data: dict[str, Any]) -> None:
    """Overwrite the row with the state after ``event_type``: the same ``evolve`` that replay uses."""
    before = row_state(order)
    after = lifecycle.evolve(before, event_type, data)
    changed = [name for name in ROW_FIELDS if after.get(name) != before.get(name) and name in after]
    for name in changed:
        setattr(order, ROW_FIELDS[name], after[name])
    order.save(update_fields=[*changed, "updated_at"] if not order._state.adding else None)


def row_state(order: Order) -> lifecycle.State:
    """The row as lifecycle state (the shape ``lifecycle.replay`` produces)."""
    return {
        "status": order.status,
        "total": order.total,
        "reserved_at": order.reserved_at,
        "authorized_at": order.authorized_at,
        "risk_score": order.risk_score,
        "hold_reason": order.hold_reason,
        "reviewed_by": order.reviewed_by,
        "reviewed_at": order.reviewed_at,
        "cancel_reason": order.cancel_reason,
        "payment_method": order.payment_method,
        "warehouse": order.warehouse,
        "carrier": order.carrier,
        "tracking": order.tracking,
        "shipped_at": order.shipped_at,
    }


#: The order row, locked: every message an order's service handles starts here, so it is SQL
#: built once rather than the ORM's query compiled each time (core/rows.py says why).
_locked = Select(Order, "id", for_update=True)


def locked(order_id: uuid.UUID) -> Order:
    """The order row, locked until the transaction ends (``select_for_update``); OrderNotFound."""
    order: Order | None = _locked(order_id)
    if order is None:
        raise OrderNotFound("id", f"no order with id {order_id}")
    return order
