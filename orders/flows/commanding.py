"""Command mode: the order service tells each downstream service what to do.

Every consumer is named in this file, with the queue its command goes to
(CELERY_TASK_ROUTES), and every failure it must hear about. Adding a consumer means editing
this file: that is the coupling the lesson describes, kept in plain sight on purpose.

The fulfilment is a saga orchestrated from here, and only from here: ``FULFILMENT`` is the whole
plan, in order, with the command that undoes each step; orders/saga.py walks it. Each command
carries a return address (``orders.advance_saga``): the outcome comes back to ``advance_saga``
below, which sends the next step, or reports that the plan failed or secured the stock and the
payment. The reply task (orders/tasks.py) then hands that verdict to the mode-neutral
``reject_order`` / ``confirm_order`` (orders/services.py), which call this flow's hooks back:
``rejected`` compensates, ``awaiting_review`` parks the saga at its review step, ``confirmed``
completes it. Adding a step is one row here.

This module does not import orders/services.py: the flows package, which services asks for the
mode's hooks, imports this module, so the import would close a cycle.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction

from contracts.replies import CommandOutcome
from messaging.kernel.envelope import Envelope
from messaging.kernel.wiring import bus
from orders import saga
from orders.models import Order, Saga
from orders.payloads import order_ref, priced_lines, stock_lines
from orders.rows import locked

PRODUCER = "orders"


def _reserve(order: Order) -> dict[str, Any]:
    return {**order_ref(order), "items": stock_lines(order)}


def _authorize(order: Order) -> dict[str, Any]:
    return {**order_ref(order), "amount": str(order.total), "currency": "EUR", "card_last4": order.card_last4}


#: The fulfilment plan: remote steps in order, each with its undo. Confirming the order and
#: sending the confirmation follow the last one, in orders itself (``confirmed`` below).
FULFILMENT = (
    saga.Step(  # -> queue inventory.reserve
        "reserve_stock",
        "inventory.reserve",
        _reserve,
        undo="inventory.release",
        on_success="orders.advance_saga",
        on_failure="orders.advance_saga",
        undo_on_failure="orders.note_failure",
    ),
    saga.Step(  # -> queue payment.authorize
        "authorize_payment",
        "payment.authorize",
        _authorize,
        undo="payment.void",
        on_success="orders.advance_saga",
        on_failure="orders.advance_saga",
        undo_on_failure="orders.note_failure",
    ),
)
LOCAL_STEPS = ("confirm_order", "send_confirmation")


def placed(order: Order, *, data: dict[str, Any]) -> None:
    saga.start(order, FULFILMENT)
    commands = bus().commands
    commands.send(  # -> queue fraud.check
        "fraud.check",
        {**order_ref(order), "user_id": order.customer_id, "items": priced_lines(order), "total": str(order.total)},
        producer=PRODUCER,
        correlation_id=str(order.id),
        on_success="orders.review_risk",
        on_failure="orders.note_failure",
    )


def advance_saga(order_id: uuid.UUID, outcome: CommandOutcome, *, cause: Envelope) -> tuple[saga.Next, str]:
    """One step's reply came back: walk ``FULFILMENT`` one row (orders/saga.py ``advance``).

    Locks the order for the caller's transaction. ``Next.WAIT``: the next step was sent, or the
    reply was late and only noted. ``Next.FAILED``: the order must be rejected, and
    ``Next.CONFIRM``: it is secured; the caller does either with the mode-neutral write, whose
    hooks below compensate (``rejected``) or finish (``awaiting_review``, ``confirmed``) the saga.
    """
    with transaction.atomic():
        order = locked(order_id)
        return saga.advance(order, outcome, FULFILMENT, cause=cause)


def confirmed(order: Order, *, data: dict[str, Any], cause: Envelope | None) -> None:
    commands = bus().commands
    commands.send(  # -> queue email.send
        "email.send",
        {
            "to": order.customer.email,
            "template": "order-confirmation",
            "data": {**order_ref(order), "total": str(order.total), "customer_name": order.customer.name},
        },
        producer=PRODUCER,
        correlation_id=str(order.id),
        caused_by=cause,
        on_failure="orders.note_failure",
    )
    commands.send(  # -> queue analytics.record
        "analytics.record",
        {**order_ref(order), "revenue": str(order.total), "items_sold": order.item_count},
        producer=PRODUCER,
        correlation_id=str(order.id),
        caused_by=cause,
        on_failure="orders.note_failure",
    )
    saga.complete(order, LOCAL_STEPS)


def cancelled(order: Order, *, data: dict[str, Any], cause: Envelope | None) -> None:
    saga.compensate(
        order, FULFILMENT, reason=order.cancel_reason, cause=cause, in_flight=True, final=Saga.State.CANCELLED
    )
    _send_cancellation_email(order, cause)


def rejected(order: Order, *, data: dict[str, Any], cause: Envelope) -> None:
    # The failed step did nothing (each is all or nothing): undo the ones before it.
    saga.compensate(order, FULFILMENT, reason=order.cancel_reason, cause=cause, in_flight=False)
    _send_cancellation_email(order, cause)


def timed_out(order: Order, *, data: dict[str, Any], cause: Envelope) -> None:
    # The step it waited on may still take effect: undo it too.
    saga.compensate(order, FULFILMENT, reason=order.cancel_reason, cause=cause, in_flight=True)
    _send_cancellation_email(order, cause)


def held(order: Order, *, data: dict[str, Any], cause: Envelope | None) -> None:
    """Nobody else needs to know: the saga waits at its review step until a person decides."""
    saga.note(order, saga.REVIEW, "held", f"risk {data['risk_score']}: {'; '.join(data['reasons'])}")


def awaiting_review(order: Order, *, data: dict[str, Any], cause: Envelope) -> None:
    """Stock reserved and payment authorized, but the order is held or not judged yet."""
    detail = "held: waiting for a person" if order.status == Order.Status.ON_HOLD else "waiting for fraud's verdict"
    saga.wait_for_review(order, detail)


def released(order: Order, *, data: dict[str, Any]) -> None:
    saga.note(order, saga.REVIEW, "released", f"by {data['reviewed_by']}")


def rejected_on_review(order: Order, *, data: dict[str, Any]) -> None:
    # A person said no: undo every step that took effect or may still (the saga may not have
    # reached the review step yet), and tell the customer.
    saga.note(order, saga.REVIEW, "rejected", f"by {data['reviewed_by']}")
    saga.compensate(order, FULFILMENT, reason=order.cancel_reason, cause=None, in_flight=True)
    _send_cancellation_email(order, None)


def progressed(order: Order, *, event_type: str, data: dict[str, Any], cause: Envelope | None = None) -> None:
    """Paid, packed, shipped, a risk score: command mode just overwrote the row; nothing is
    sent, and no history is kept."""


def _send_cancellation_email(order: Order, cause: Envelope | None) -> None:
    bus().commands.send(  # -> queue email.send
        "email.send",
        {
            "to": order.customer.email,
            "template": "order-cancelled",
            "data": {**order_ref(order), "reason": order.cancel_reason, "customer_name": order.customer.name},
        },
        producer=PRODUCER,
        correlation_id=str(order.id),
        caused_by=cause,
        on_failure="orders.note_failure",
    )
