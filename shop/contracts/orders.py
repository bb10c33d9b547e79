"""Events the order service states. Each is also appended to the order's stream in the event
store (event mode), so these schemas are the shape of the order's history too."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from shop.contracts.common import OrderRef, PricedLine
from shop.messaging.contracts import event, upcaster

Money = Decimal
Currency = Literal["EUR", "USD", "GBP"]

#: v1 of order.placed had no currency: every v1 order was priced in euros.
V1_CURRENCY = "EUR"


@event("order.placed", version=1)
class OrderPlacedV1(OrderRef):
    """The lesson's ``order.placed``: orderId, userId, items, total, placedAt. Superseded by v2."""

    user_id: int = Field(gt=0)
    items: list[PricedLine] = Field(min_length=1)
    total: Money = Field(ge=0, max_digits=14, decimal_places=2)
    placed_at: datetime


@event("order.placed", version=2)
class OrderPlaced(OrderRef):
    """v2: an explicit amount and currency instead of a bare total."""

    user_id: int = Field(gt=0)
    items: list[PricedLine] = Field(min_length=1)
    amount: Money = Field(ge=0, max_digits=14, decimal_places=2)
    currency: Currency
    placed_at: datetime


@upcaster("order.placed", from_version=1)
def order_placed_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    upgraded = {key: value for key, value in data.items() if key != "total"}
    return {**upgraded, "amount": data["total"], "currency": V1_CURRENCY}


@event("order.confirmed")
class OrderConfirmed(OrderRef):
    """Stock is reserved: the sale stands. Carries what analytics and notifications need."""

    user_id: int = Field(gt=0)
    items: list[PricedLine] = Field(min_length=1)
    total: Money = Field(ge=0, max_digits=14, decimal_places=2)
    confirmed_at: datetime


@event("order.held")
class OrderHeld(OrderRef):
    """Orders put the order on hold after fraud's ``order.flagged``."""

    risk_score: float = Field(ge=0, le=1)
    reasons: list[str]


@event("order.cancelled")
class OrderCancelled(OrderRef):
    user_id: int = Field(gt=0)
    reason: str = Field(max_length=500)
    cancelled_at: datetime


@event("order.paid")
class OrderPaid(OrderRef):
    """The lesson's ``PaymentReceived``."""

    method: str = Field(min_length=1, max_length=30)
    paid_at: datetime


@event("order.packed")
class OrderPacked(OrderRef):
    warehouse: str = Field(min_length=1, max_length=30)
    packed_at: datetime


@event("order.shipped")
class OrderShipped(OrderRef):
    carrier: str = Field(min_length=1, max_length=30)
    tracking: str = Field(min_length=1, max_length=60)
    shipped_at: datetime
