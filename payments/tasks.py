"""Command mode: payments does what it is told, and reports the outcome to whoever asked."""

from __future__ import annotations

from typing import Any

from contracts.payments import AuthorizePayment, VoidPayment
from messaging.kernel.envelope import Envelope
from messaging.kernel.errors import CommandRejected
from messaging.kernel.subscriptions import command_handler
from payments import services
from payments.models import Authorization


def _ask_issuer(envelope: Envelope, command: AuthorizePayment) -> None:
    """Outside the transaction: the issuer's answer may take a while (services.wait_for_issuer)."""
    services.wait_for_issuer(command.card_last4)


@command_handler("payment.authorize", service="payments", before=_ask_issuer)
def authorize(envelope: Envelope, command: AuthorizePayment) -> dict[str, Any]:
    authorization = services.authorize_now(command.order_id, command.amount, command.currency, command.card_last4)
    # A decline is a business outcome: retrying will not change the issuer's mind, and the
    # sender asked to hear of failures through its return address. The rejection rolls back
    # this transaction, so command mode keeps no declined row: the reply to orders (and the
    # message log's failed entry) is the record, and the failure is the sender's to keep.
    if authorization.status == Authorization.Status.DECLINED:
        raise CommandRejected(authorization.reason)
    if authorization.status == Authorization.Status.VOIDED:
        raise CommandRejected("authorization voided: the order gave up waiting")
    return {
        "authorization": Authorization.Status.AUTHORIZED.value,
        "amount": str(authorization.amount),
        "currency": authorization.currency,
    }


@command_handler("payment.void", service="payments")
def void(envelope: Envelope, command: VoidPayment) -> dict[str, Any]:
    return {"voided": services.void(command.order_id)}
