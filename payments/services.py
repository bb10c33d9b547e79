"""Card authorization with deterministic rules. The only code that writes ``Authorization``.

The "issuer" is a rule on the card token's last four characters, so every outcome of the saga
can be reproduced on purpose: ``...0002`` is declined, ``...0003`` answers slowly, anything else
is authorized. The last four are all payments is ever given (contracts/cards.py): a real
provider would be handed the token by the client, never by a message of ours.
"""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction

from core.rows import Select
from payments.models import Authorization

#: A token ending in this is declined: the card test numbers' convention, kept deterministic.
DECLINED_SUFFIX = "0002"
#: A token ending in this is a slow issuer: how tests make a payment miss the saga's deadline.
SLOW_SUFFIX = "0003"


class NoAuthorizationRequested(LookupError):
    """Authorization was asked for an order payments has not heard of."""


def request_authorization(order_id: uuid.UUID, amount: Decimal, currency: str, card_last4: str) -> Authorization:
    """Record what to authorize. Calling it again (or after a void) changes nothing, except that
    it completes a row the stock's reservation left (``awaiting_order``), which is then ready."""
    with transaction.atomic():
        authorization, created = Authorization.objects.select_for_update().get_or_create(
            order_id=order_id,
            defaults={
                "amount": amount,
                "currency": currency,
                "token_last4": card_last4[-4:],
                "status": Authorization.Status.REQUESTED,
            },
        )
        if not created and authorization.status == Authorization.Status.AWAITING_ORDER:
            authorization.amount, authorization.currency, authorization.token_last4 = amount, currency, card_last4[-4:]
            authorization.status = Authorization.Status.REQUESTED
            authorization.stock_reserved = True
            authorization.save()
        return authorization


def note_stock_reserved(order_id: uuid.UUID) -> Authorization:
    """Event mode: the stock is reserved. Returns the row, ``requested`` if the order is known
    (ready to decide) or ``awaiting_order`` if ``order.placed`` has not reached payments yet."""
    with transaction.atomic():
        authorization, created = _locked_or_placeholder(
            order_id, Authorization.Status.AWAITING_ORDER, stock_reserved=True
        )
        if not created and not authorization.stock_reserved:
            authorization.stock_reserved = True
            authorization.save(update_fields=["stock_reserved", "updated_at"])
        return authorization


#: The two reads of an authorization that every payment message makes, as SQL built once
#: (core/rows.py says why); ``order_id`` is unique, so each finds one row or none.
_requested = Select(Authorization, "order_id", "status", "stock_reserved")
_locked = Select(Authorization, "order_id", for_update=True)


def ready(order_id: uuid.UUID) -> Authorization | None:
    """The row, if it is waiting for the issuer's decision (the order and its stock are known)."""
    found: Authorization | None = _requested(order_id, Authorization.Status.REQUESTED, True)
    return found


def wait_for_issuer(token_last4: str) -> None:
    """The issuer's latency. Called *outside* any transaction (a handler's ``before`` hook,
    messaging/kernel/subscriptions.py): a slow issuer must not hold a row lock, or on SQLite the
    one write lock, that a void or anything else is waiting for."""
    delay = issuer_latency(token_last4)
    if delay > 0:
        time.sleep(delay)


def authorize(order_id: uuid.UUID) -> Authorization:
    """Decide a requested authorization, under its row lock; a decided (or voided) one is
    returned unchanged, so a void that won the race while the issuer was slow stays a void."""
    with transaction.atomic():
        authorization: Authorization | None = _locked(order_id)
        if authorization is None:
            raise NoAuthorizationRequested(f"no authorization was requested for order {order_id}")
        if authorization.status != Authorization.Status.REQUESTED:
            return authorization  # voided while we waited, or decided by a concurrent delivery
        if authorization.token_last4.endswith(DECLINED_SUFFIX):
            authorization.status = Authorization.Status.DECLINED
            authorization.reason = f"card declined (token ending {DECLINED_SUFFIX})"
        else:
            authorization.status = Authorization.Status.AUTHORIZED
        authorization.save(update_fields=["status", "reason", "updated_at"])
        return authorization


def authorize_now(order_id: uuid.UUID, amount: Decimal, currency: str, card_last4: str) -> Authorization:
    """Command mode: the command carries everything and orders only sends it once the stock is
    reserved, so request and decide in one step (the issuer was waited for beforehand)."""
    request_authorization(order_id, amount, currency, card_last4)
    Authorization.objects.filter(order_id=order_id, stock_reserved=False).update(stock_reserved=True)
    return authorize(order_id)


def void(order_id: uuid.UUID) -> bool:
    """Release the order's authorization; True only if one had been granted.

    A void for an order with no row (yet) leaves a ``voided`` row behind, so that a request or
    an authorization arriving after it is refused rather than granted and never released.
    """
    with transaction.atomic():
        authorization, created = _locked_or_placeholder(order_id, Authorization.Status.VOIDED)
        live = (Authorization.Status.AUTHORIZED, Authorization.Status.REQUESTED, Authorization.Status.AWAITING_ORDER)
        if created or authorization.status not in live:
            return False
        was_authorized = authorization.status == Authorization.Status.AUTHORIZED
        authorization.status = Authorization.Status.VOIDED
        authorization.save(update_fields=["status", "updated_at"])
        return was_authorized


def issuer_latency(token_last4: str) -> float:
    """Seconds the issuer takes to answer: read at call time, so tests can change the settings."""
    delay = float(getattr(settings, "SHOP_PAYMENT_LATENCY", 0.0))
    if token_last4.endswith(SLOW_SUFFIX):
        delay += float(getattr(settings, "SHOP_PAYMENT_SLOW_SECONDS", 30.0))
    return delay


def _locked_or_placeholder(order_id: uuid.UUID, status: str, **fields: Any) -> tuple[Authorization, bool]:
    """The order's row, locked; or, when a message arrives before ``order.placed`` told payments
    the amount, a new row in ``status`` that holds no money yet. True if it was created."""
    return Authorization.objects.select_for_update().get_or_create(
        order_id=order_id,
        defaults={"amount": Decimal("0"), "currency": "", "token_last4": "", "status": status, **fields},
    )
