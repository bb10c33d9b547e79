"""Command mode: the replies orders asked for when it sent its commands, and its own timers.

Each task is thin: it reads the order id and calls one service.
"""

from __future__ import annotations

import uuid

from contracts.orders import EnforceDeadline
from contracts.replies import CommandOutcome
from messaging.kernel.envelope import Envelope
from messaging.kernel.subscriptions import command_handler
from orders import review, services


def _order_id(outcome: CommandOutcome) -> uuid.UUID:
    return uuid.UUID(str(outcome.request["order_id"]))


@command_handler("orders.advance_saga", service="orders")
def advance_saga(envelope: Envelope, outcome: CommandOutcome) -> dict[str, str]:
    return {"saga": services.advance_saga(_order_id(outcome), outcome, cause=envelope)}


@command_handler("orders.enforce_deadline", service="orders")
def enforce_deadline(envelope: Envelope, command: EnforceDeadline) -> dict[str, str]:
    """Both modes: the timer orders set for itself when the order was placed."""
    order = services.expire_order(command.order_id, cause=envelope)
    return {"order": order.status}


@command_handler("orders.review_risk", service="orders")
def review_risk(envelope: Envelope, outcome: CommandOutcome) -> dict[str, str]:
    score = float(outcome.result["risk_score"])
    if outcome.result.get("flagged"):
        order = review.hold_order(
            _order_id(outcome), risk_score=score, reasons=outcome.result.get("reasons", []), cause=envelope
        )
        return {"order": order.status}
    order = review.clear_order(_order_id(outcome), risk_score=score, cause=envelope)
    return {"order": order.status, "risk_score": str(score)}


@command_handler("orders.note_failure", service="orders")
def note_failure(envelope: Envelope, outcome: CommandOutcome) -> dict[str, str]:
    services.note_command_failure(
        _order_id(outcome), command=outcome.command, command_id=outcome.command_id, error=outcome.error or "?"
    )
    return {"noted": f"{outcome.command} failed"}
