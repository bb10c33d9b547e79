"""Payments' commands (command mode) and the events it states (event mode).

Only a card *token* ever crosses the broker, never card data; payments keeps its last four
characters, which is all its rules need.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from shop.contracts.common import OrderRef
from shop.messaging.contracts import command, event


@command("payment.authorize")
class AuthorizePayment(OrderRef):
    """Hold ``amount`` on the card behind ``token`` for the order. A decline comes back to the
    sender as a failure reply: in command mode the sender owns the outcome."""

    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    currency: str = Field(min_length=3, max_length=3)
    token: str = Field(min_length=1, max_length=64)


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
