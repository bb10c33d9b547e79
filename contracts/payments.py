"""Payments' commands (command mode) and the events it states (event mode).

Only the card's last four characters cross the broker, never a token or card data: they are
all the issuer's rules need (contracts/cards.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator

from contracts.cards import card_last4
from contracts.common import OrderRef
from messaging.kernel.contracts import command, event


@command("payment.authorize")
class AuthorizePayment(OrderRef):
    """Hold ``amount`` on the card ending ``card_last4`` for the order. A decline comes back to
    the sender as a failure reply: in command mode the sender owns the outcome.

    It used to carry the whole card ``token``. Commands are not versioned (one consumer, no
    store keeping them), so a command still queued from then is read here: its token cut to the
    last four and dropped before validation, so it never reaches the handler.
    """

    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    currency: str = Field(min_length=3, max_length=3)
    card_last4: str = Field(min_length=1, max_length=4, description="The card token's last four characters.")

    @model_validator(mode="before")
    @classmethod
    def _drop_an_old_token(cls, data: Any) -> Any:
        if isinstance(data, dict) and "token" in data:
            kept = {key: value for key, value in data.items() if key != "token"}
            return {"card_last4": card_last4(data["token"]), **kept}
        return data


@command("payment.void")
class VoidPayment(OrderRef):
    """Release the order's authorization, or refuse one that has not arrived yet: a void may
    overtake the authorization it cancels."""


@event("payment.authorized")
class PaymentAuthorized(OrderRef):
    """The amount is held on the customer's card; nothing is captured yet."""

    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    currency: str = Field(min_length=3, max_length=3)


@event("payment.declined")
class PaymentDeclined(OrderRef):
    """The issuer refused: a business outcome stated as a fact, not a handler failure."""

    reason: str = Field(max_length=500)


@event("payment.voided")
class PaymentVoided(OrderRef):
    """An authorization that had been granted was released; the customer is no longer charged."""
