from __future__ import annotations

import uuid
from decimal import Decimal

from pydantic import Field

from contracts.common import OrderRef, PricedLine
from messaging.kernel.contracts import command, event


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


@event("order.cleared")
class OrderCleared(OrderRef):
    """Fraud detection's other verdict: the score is at or below the threshold. Stated for every
    order it does not flag, so that orders knows the verdict is in and may confirm."""

    order_id: uuid.UUID
    risk_score: float = Field(ge=0, le=1)
    reasons: list[str] = Field(default_factory=list, description="What the score is made of, if anything.")


class _Verdicts:
    """Whether an order must wait for a risk verdict before it is confirmed.

    Set by the fraud app's ``AppConfig.ready()``: a service that judges orders says so itself,
    as it subscribes itself. Without fraud installed nobody would ever answer, so orders does
    not wait; with it, no order is confirmed before fraud has cleared it (or a person released
    its hold). Orders reads this flag and never names the fraud app.
    """

    required = False


def require_risk_verdict() -> None:
    """Called by the fraud app when it is installed."""
    _Verdicts.required = True


def risk_verdict_required() -> bool:
    return _Verdicts.required
