"""The order summary projection: one step of the fold, from an order stream's event to the summary.

This is the lesson's ``OrderReadModel``: ``order.placed`` creates the summary (with the
customer's name looked up once), later events update it. Unlike the lesson's sketch it handles
every event of the order stream, so the dashboard shows each order's current status.

The status rules repeat those of ``orders.lifecycle.evolve`` on purpose: the read side depends
on the published events (their names and data, contracts/orders.py), never on the orders
app that wrote them. ``tests/unit/test_readmodel.py`` checks the two agree, order by order.

Kept pure except for the customer lookup, which the caller passes in (a cache in a rebuild).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils.dateparse import parse_datetime

from core.eventstore.store import StoredEvent

PLACED, CONFIRMED, ON_HOLD, CANCELLED = "placed", "confirmed", "on_hold", "cancelled"
PAID, PACKED, SHIPPED = "paid", "packed", "shipped"
STATUSES = (PLACED, CONFIRMED, ON_HOLD, CANCELLED, PAID, PACKED, SHIPPED)

#: Every event type of an order stream: the projector subscribes to all of them.
ORDER_STREAM_EVENTS = (
    "order.placed",
    "order.confirmed",
    "order.risk_scored",
    "order.held",
    "order.authorized",
    "order.released",
    "order.cancelled",
    "order.paid",
    "order.packed",
    "order.shipped",
)

#: user id -> the customer's name, as the summary stores it.
CustomerNames = Callable[[int], str]


@dataclass(frozen=True)
class Summary:
    """An order summary as the fold carries it (the ``OrderSummary`` row's fields)."""

    order_id: uuid.UUID
    customer_name: str = ""
    item_count: int = 0
    total: Decimal = Decimal("0")
    currency: str = ""
    status: str = ""
    placed_at: datetime | None = None
    shipped_at: datetime | None = None
    flagged: bool = False
    risk_score: float | None = None


def apply(summary: Summary, event: StoredEvent, *, customer_name: CustomerNames) -> Summary:
    """The summary after ``event``. Event types it does not know leave the summary unchanged.

    ``event`` is read back from the store, so its data is already upcast to the newest schema
    (order.placed v1's ``total`` arrives as v2's ``amount`` and ``currency``).
    """
    data: Mapping[str, Any] = event.data
    status = summary.status
    match event.type:
        case "order.placed":
            return replace(
                summary,
                customer_name=customer_name(int(data["user_id"])),
                item_count=len(data["items"]),  # the lesson's ``event.items.length``
                total=Decimal(str(data["amount"])),
                currency=str(data["currency"]),
                status=PLACED,
                placed_at=_when(data["placed_at"]),
            )
        case "order.confirmed":
            # Stock reserved: an order already held or paid keeps that status.
            return replace(summary, status=CONFIRMED if status == PLACED else status)
        case "order.risk_scored":
            return replace(summary, risk_score=float(data["risk_score"]))
        case "order.held":
            held = ON_HOLD if status in {PLACED, CONFIRMED, PAID} else status
            return replace(summary, status=held, flagged=True, risk_score=float(data["risk_score"]))
        case "order.released":
            # A person let the held order go on: back to where it was (flagged stays true).
            return replace(summary, status=str(data["status"]))
        case "order.cancelled":
            return replace(summary, status=CANCELLED)
        case "order.paid":
            return replace(summary, status=PAID)
        case "order.packed":
            return replace(summary, status=PACKED)
        case "order.shipped":
            return replace(summary, status=SHIPPED, shipped_at=_when(data["shipped_at"]))
        case _:
            return summary


def _when(value: Any) -> datetime | None:
    """Timestamps are ISO strings in the stored JSON; the summary holds datetimes."""
    return parse_datetime(value) if isinstance(value, str) else None
