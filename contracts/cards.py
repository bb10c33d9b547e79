"""What the shop may keep of a customer's card: its last four characters, nothing more.

A card token is a bearer secret: whoever holds it can ask the payment provider to charge the
card. A real shop therefore never keeps one. The client hands the card to the payment provider
(a hosted field, a wallet), the provider answers with what the shop may keep (a brand and the
last four digits, for receipts and support) and the shop charges through the provider's own
reference. The token itself is never written to the shop's database, its events or its messages.

This project has no payment provider: ``POST /api/orders`` still accepts ``payment_token``
(part of the API contract), and orders reduces it to its last four characters on the way in
(``card_last4``). The simulated issuer (payments/services.py) decides from those four alone
(``...0002`` is declined, ``...0003`` answers slowly), so nothing downstream needs more: the
order row, ``order.placed`` (v3), ``payment.authorize`` and the API carry ``card_last4``.
Events and commands stored before that carried the whole token; they are read without it (an
upcaster, a validator), and a data migration (core/migrations/0007_scrub_card_tokens.py)
scrubbed the mutable tables that kept copies. No brand is kept: a test token says nothing about
one. The same ``Idempotency-Key`` with another token ending in the same four characters is
therefore the same request (orders.services.request_fingerprint).
"""

from __future__ import annotations

from typing import Any

#: The card an order pays with when the client names none: a test card the issuer authorizes.
DEFAULT_CARD_LAST4 = "4242"
#: How many trailing characters of a token the shop keeps.
KEPT = 4
#: The keys old messages carried a whole token under (``order.placed`` v2, ``payment.authorize``).
TOKEN_KEYS = frozenset({"payment_token", "token"})


def card_last4(token: str | None) -> str:
    """The last four characters of ``token`` (the default card when there is none).

    Called at the boundary, before anything is stored or sent: a token longer than four
    characters never gets past this function.
    """
    return token[-KEPT:] if token else DEFAULT_CARD_LAST4


def masked(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with a token shown as its last four only: for pages that show old events as stored
    (the event store is immutable, so a v2 ``order.placed`` there still holds a whole token)."""
    return {
        key: f"****{card_last4(value)}" if key in TOKEN_KEYS and isinstance(value, str) else value
        for key, value in data.items()
    }
