"""Events the order service states."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import Field

from shop.contracts.common import OrderRef, PricedLine
from shop.messaging.contracts import event


@event("order.placed")
class OrderPlaced(OrderRef):
    """The lesson's ``order.placed``: orderId, userId, items, total, placedAt."""

    user_id: int = Field(gt=0)
    items: list[PricedLine] = Field(min_length=1)
    total: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    placed_at: datetime


@event("order.confirmed")
class OrderConfirmed(OrderRef):
    """Stock is reserved: the sale stands. Carries what analytics and notifications need."""

    user_id: int = Field(gt=0)
    items: list[PricedLine] = Field(min_length=1)
    total: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    confirmed_at: datetime


@event("order.cancelled")
class OrderCancelled(OrderRef):
    user_id: int = Field(gt=0)
    reason: str = Field(max_length=500)
    cancelled_at: datetime
