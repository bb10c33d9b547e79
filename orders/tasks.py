"""Command mode: the replies orders asked for when it sent its commands.

Each task is thin: it reads the order id from the outcome and calls one service.
"""

from __future__ import annotations

import uuid

from orders import services
from shop.contracts.replies import CommandOutcome
from shop.messaging.envelope import Envelope
from shop.messaging.worker import command_handler


def _order_id(outcome: CommandOutcome) -> uuid.UUID:
    return uuid.UUID(str(outcome.request["order_id"]))


@command_handler("orders.confirm", service="orders")
def confirm(envelope: Envelope, outcome: CommandOutcome) -> None:
    services.confirm_order(_order_id(outcome), cause=envelope)


@command_handler("orders.reject", service="orders")
def reject(envelope: Envelope, outcome: CommandOutcome) -> None:
    services.reject_order(_order_id(outcome), reason=outcome.error or "stock could not be reserved", cause=envelope)


@command_handler("orders.review_risk", service="orders")
def review_risk(envelope: Envelope, outcome: CommandOutcome) -> None:
    score = float(outcome.result["risk_score"])
    if outcome.result.get("flagged"):
        services.hold_order(_order_id(outcome), risk_score=score, reasons=outcome.result.get("reasons", []))
    else:
        services.record_risk(_order_id(outcome), risk_score=score)


@command_handler("orders.note_failure", service="orders")
def note_failure(envelope: Envelope, outcome: CommandOutcome) -> None:
    services.note_command_failure(
        _order_id(outcome), command=outcome.command, command_id=outcome.command_id, error=outcome.error or "?"
    )
