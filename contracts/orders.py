"""Events the order service states. Each is also appended to the order's stream in the event
store (event mode), so these schemas are the shape of the order's history too."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from contracts.cards import card_last4
from contracts.common import OrderRef, PricedLine
from messaging.kernel.contracts import command, event, upcaster

Money = Decimal
Currency = Literal["EUR", "USD", "GBP"]

#: v1 of order.placed had no currency: every v1 order was priced in euros.
V1_CURRENCY = "EUR"
#: The card token v2 events stored before ``payment_token`` existed were placed with.
V2_DEFAULT_PAYMENT_TOKEN = "tok_4242"


@event("order.placed", version=1)
class OrderPlacedV1(OrderRef):
    """The lesson's ``order.placed``: orderId, userId, items, total, placedAt. Superseded by v2."""

    user_id: int = Field(gt=0)
    items: list[PricedLine] = Field(min_length=1)
    total: Money = Field(ge=0, max_digits=14, decimal_places=2)
    placed_at: datetime


@event("order.placed", version=2)
class OrderPlacedV2(OrderRef):
    """v2: an explicit amount and currency instead of a bare total. Superseded by v3.

    ``payment_token`` was added later with a default, so v2 events stored before it still read.
    It carried the whole card token, a secret that the event store then kept forever: v3 keeps
    only its last four characters.
    """

    user_id: int = Field(gt=0)
    items: list[PricedLine] = Field(min_length=1)
    amount: Money = Field(ge=0, max_digits=14, decimal_places=2)
    currency: Currency
    placed_at: datetime
    payment_token: str = Field(default=V2_DEFAULT_PAYMENT_TOKEN, min_length=1, max_length=64)


@event("order.placed", version=3)
class OrderPlaced(OrderRef):
    """v3: the card's last four characters instead of its token (contracts/cards.py).

    The token is a secret and the store is immutable, so it must never be in an event; the
    issuer's rules (payments) read the last four alone. A new required field, hence a new
    version: v2 events are upcast, the token dropped on the way out of the store.
    """

    user_id: int = Field(gt=0)
    items: list[PricedLine] = Field(min_length=1)
    amount: Money = Field(ge=0, max_digits=14, decimal_places=2)
    currency: Currency
    placed_at: datetime
    card_last4: str = Field(min_length=1, max_length=4, description="The card token's last four characters.")


@upcaster("order.placed", from_version=1)
def order_placed_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    upgraded = {key: value for key, value in data.items() if key != "total"}
    return {**upgraded, "amount": data["total"], "currency": V1_CURRENCY}


@upcaster("order.placed", from_version=2)
def order_placed_v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """Drop the token, keep its last four: stored v2 events read without the secret (one from
    before ``payment_token`` existed was placed with the default card, ``4242``)."""
    upgraded = {key: value for key, value in data.items() if key != "payment_token"}
    return {**upgraded, "card_last4": card_last4(data.get("payment_token"))}


@event("order.confirmed")
class OrderConfirmed(OrderRef):
    """Stock is reserved and payment authorized: the sale stands. Carries what analytics and
    notifications need."""

    user_id: int = Field(gt=0)
    items: list[PricedLine] = Field(min_length=1)
    total: Money = Field(ge=0, max_digits=14, decimal_places=2)
    confirmed_at: datetime


@event("order.risk_scored")
class OrderRiskScored(OrderRef):
    """Orders recorded fraud's score for an order it did not flag (``order.cleared``): the order
    may be confirmed once its stock and payment are secured."""

    risk_score: float = Field(ge=0, le=1)


@event("order.held")
class OrderHeld(OrderRef):
    """Orders put the order on hold after fraud's ``order.flagged``: nothing final (confirmation,
    its e-mail, revenue) happens until a person releases or rejects it."""

    risk_score: float = Field(ge=0, le=1)
    reasons: list[str]


@event("order.authorized")
class OrderAuthorized(OrderRef):
    """Stock reserved and payment authorized, while the order still waits for its risk verdict
    or for a person: it is confirmed (``order.confirmed``) after the verdict or the release."""

    authorized_at: datetime


@event("order.released")
class OrderReleased(OrderRef):
    """A person looked at a held order and let it go on. ``status`` is where it returns to
    (placed, or paid if the customer paid meanwhile); confirmation follows once stock and
    payment are secured, exactly as for an order that was never held."""

    status: Literal["placed", "confirmed", "paid"]
    reviewed_by: str = Field(min_length=1, max_length=150)
    reviewed_at: datetime
    note: str = Field(default="", max_length=500)


@event("order.cancelled")
class OrderCancelled(OrderRef):
    """Any cancellation: the customer's, a failed step's, the deadline's, or a person rejecting a
    held order (then ``reviewed_by`` and ``reviewed_at`` say who and when). Inventory and
    payments undo their part on it, whatever the cause."""

    user_id: int = Field(gt=0)
    reason: str = Field(max_length=500)
    cancelled_at: datetime
    reviewed_by: str | None = Field(default=None, max_length=150)
    reviewed_at: datetime | None = None


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


@command("orders.enforce_deadline", reply=True)  # a timer orders sets for itself
class EnforceDeadline(OrderRef):
    """A timer orders sets for itself when an order is placed (orders/deadlines.py): if the
    order is still unconfirmed when it fires, orders gives up on it. A command to oneself is a
    reminder, not coupling: no other service is named."""
