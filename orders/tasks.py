"""Command mode: the replies orders asked for when it sent its commands, and its own timers.

Each task is thin: it reads the order id and calls one service, except the saga's reply, which
first lets the saga walk its plan (orders/flows/commanding.py) and then calls the service the
saga's verdict asks for: the same ``reject_order`` / ``confirm_order`` event mode's handlers call
(orders/handlers.py). The composition is here, not in commanding, because orders/services.py
reaches commanding through the flows package: commanding importing services would be a cycle.
"""

from __future__ import annotations

import uuid

from django.db import transaction

from contracts.orders import EnforceDeadline
from contracts.replies import CommandOutcome
from messaging.kernel.envelope import Envelope
from messaging.kernel.subscriptions import command_handler
from orders import review, saga, services
from orders.flows import commanding


def _order_id(outcome: CommandOutcome) -> uuid.UUID:
    return uuid.UUID(str(outcome.request["order_id"]))


@command_handler("orders.advance_saga", service="orders")
def advance_saga(envelope: Envelope, outcome: CommandOutcome) -> dict[str, str]:
    """One step's outcome, in one transaction: the saga advances, then the order follows its verdict."""
    order_id = _order_id(outcome)
    with transaction.atomic():
        after, detail = commanding.advance_saga(order_id, outcome, cause=envelope)
        if after is saga.Next.FAILED:
            services.reject_order(order_id, reason=detail, cause=envelope)
        elif after is saga.Next.CONFIRM:
            services.confirm_order(order_id, cause=envelope)
    return {"saga": detail}


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
