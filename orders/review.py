"""Held orders: fraud's verdict, and a person's decision on a hold.

A flagged order is held (``order.held``): nothing final happens to it (no confirmation, no
confirmation e-mail, no revenue) until a member of staff releases or rejects it, from the admin
or the staff API. An order fraud does not flag is cleared (``order.risk_scored``). Either
verdict may come before or after the fulfilment secured the stock and the payment
(``order.authorized``); the order is confirmed once both are in (orders/services.py).

The same in both modes: command mode's saga waits at its ``review`` step; event mode's orders
reacts to fraud's ``order.flagged`` / ``order.cleared``, and a release or a rejection is a new
event of the order's stream (``order.released``, or ``order.cancelled`` naming the reviewer).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from messaging.kernel.envelope import Envelope
from orders import deadlines, lifecycle
from orders.flows import flow_for
from orders.models import Order
from orders.payloads import order_ref
from orders.rows import apply_event, locked, row_state
from orders.services import cancellation, confirm_if_secured


def hold_order(
    order_id: uuid.UUID, *, risk_score: float, reasons: Sequence[str], cause: Envelope | None = None
) -> Order:
    """Fraud flagged the order: it waits for a person (``release_hold`` or ``reject_hold``)."""
    with transaction.atomic():
        order = locked(order_id)
        if order.hold_reason:
            return order  # already held (and perhaps released since: a redelivery changes nothing)
        data = {**order_ref(order), "risk_score": risk_score, "reasons": list(reasons)}
        apply_event(order, "order.held", data)
        flow_for(order.mode).held(order, data=data, cause=cause)
    return order


def clear_order(order_id: uuid.UUID, *, risk_score: float, cause: Envelope | None = None) -> Order:
    """Fraud did not flag the order: record its score, and confirm it if it was only waiting for this."""
    with transaction.atomic():
        order = locked(order_id)
        if order.risk_score is not None:
            return order  # judged already: a redelivery, or held
        data = {**order_ref(order), "risk_score": risk_score}
        apply_event(order, "order.risk_scored", data)
        flow_for(order.mode).progressed(order, event_type="order.risk_scored", data=data, cause=cause)
        confirm_if_secured(order, cause)
    return order


def release_hold(order_id: uuid.UUID, *, reviewed_by: str, note: str = "") -> Order:
    """A person released a held order: it goes on exactly as an unflagged order would, and is
    confirmed now if its stock and payment were already secured."""
    with transaction.atomic():
        order = locked(order_id)
        lifecycle.check("release", order.status)
        data = {
            **order_ref(order),
            "status": lifecycle.released_status(row_state(order)),
            **_reviewed(reviewed_by),
            "note": note,
        }
        apply_event(order, "order.released", data)
        flow_for(order.mode).released(order, data=data)
        confirm_if_secured(order, cause=None)
    return order


def reject_hold(order_id: uuid.UUID, *, reviewed_by: str, note: str = "") -> Order:
    """A person rejected a held order: it is cancelled, its stock released, its payment voided,
    and the customer told, as for any cancellation."""
    with transaction.atomic():
        order = locked(order_id)
        lifecycle.check("reject", order.status)
        reason = f"rejected after review by {reviewed_by}" + (f": {note}" if note else "")
        data = {**cancellation(order, reason), **_reviewed(reviewed_by)}
        apply_event(order, "order.cancelled", data)
        deadlines.disarm(order)
        flow_for(order.mode).rejected_on_review(order, data=data)
    return order


def _reviewed(reviewed_by: str) -> dict[str, str]:
    return {"reviewed_by": reviewed_by, "reviewed_at": timezone.now().isoformat()}
