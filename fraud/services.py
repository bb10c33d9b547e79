from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal

from catalog.selectors import customer
from contracts.common import PricedLine
from fraud.models import RiskAssessment
from fraud.scoring import score


def assess_order(order_id: uuid.UUID, *, user_id: int, items: Sequence[PricedLine], total: Decimal) -> RiskAssessment:
    """Score an order once; assessing it again returns the first assessment."""
    existing = RiskAssessment.objects.filter(order_id=order_id).first()
    if existing is not None:
        return existing
    buyer = customer(user_id)
    result = score(total=total, quantities=[i.quantity for i in items], email=buyer.email if buyer else "")
    return RiskAssessment.objects.create(
        order_id=order_id, score=result.value, flagged=result.flagged, reasons=list(result.reasons)
    )
