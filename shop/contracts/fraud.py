from __future__ import annotations

import uuid
from decimal import Decimal

from pydantic import Field

from shop.contracts.common import OrderRef, PricedLine
from shop.messaging.contracts import command, event


@command("fraud.check")
class CheckFraud(OrderRef):
    user_id: int = Field(gt=0)
    items: list[PricedLine] = Field(min_length=1)
    total: Decimal = Field(ge=0, max_digits=14, decimal_places=2)


@event("order.flagged")
class OrderFlagged(OrderRef):
    """The lesson's ``order.flagged``, stated by fraud detection when the risk score > 0.8."""

    order_id: uuid.UUID
    risk_score: float = Field(ge=0, le=1)
    reasons: list[str]
