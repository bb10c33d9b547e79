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
def confirm(envelope: Envelope, outcome: CommandOutcome) -> dict[str, str]:
    order = services.confirm_order(_order_id(outcome), cause=envelope)
    return {"order": order.status}


@command_handler("orders.reject", service="orders")
def reject(envelope: Envelope, outcome: CommandOutcome) -> dict[str, str]:
    order = services.reject_order(
        _order_id(outcome), reason=outcome.error or "stock could not be reserved", cause=envelope
    )
    return {"order": order.status}


@command_handler("orders.review_risk", service="orders")
def review_risk(envelope: Envelope, outcome: CommandOutcome) -> dict[str, str]:
    score = float(outcome.result["risk_score"])
    if outcome.result.get("flagged"):
        order = services.hold_order(
            _order_id(outcome), risk_score=score, reasons=outcome.result.get("reasons", []), cause=envelope
        )
        return {"order": order.status}
    services.record_risk(_order_id(outcome), risk_score=score)
    return {"risk_score": str(score)}


@command_handler("orders.note_failure", service="orders")
def note_failure(envelope: Envelope, outcome: CommandOutcome) -> dict[str, str]:
    services.note_command_failure(
        _order_id(outcome), command=outcome.command, command_id=outcome.command_id, error=outcome.error or "?"
    )
    return {"noted": f"{outcome.command} failed"}
