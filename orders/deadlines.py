"""The saga's deadline, in both modes: a timer orders sets for itself when an order is placed.

An order that is neither confirmed nor cancelled by ``confirm_by`` is given up: a step never
answered (a payment issuer that hangs, a service that is down). The timer is a command orders
sends to itself with ``not_before`` (messaging/kernel/bus.py): the outbox holds it until it is
due, then the relay publishes it. Why not a Celery countdown: the broker, or on Redis the worker
that prefetched it, would have to hold the message for the whole wait, and Redis hands a held
message out again after the visibility timeout (300 s here), so a long countdown there fires
more than once. And a countdown sent while the broker is down is lost; an outbox row is not.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from messaging.kernel.envelope import Envelope
from messaging.kernel.outbound import cancel_timers
from messaging.kernel.wiring import bus
from orders.models import Order
from orders.payloads import order_ref

TIMER = "orders.enforce_deadline"


def arm(order: Order) -> Envelope:
    """Set ``confirm_by`` and the timer that enforces it (inside the order's transaction)."""
    order.confirm_by = timezone.now() + timedelta(seconds=settings.SHOP_SAGA_TIMEOUT)
    order.save(update_fields=["confirm_by"])
    return bus().commands.send(
        TIMER,
        order_ref(order),
        producer="orders",
        correlation_id=str(order.id),
        not_before=order.confirm_by,
        on_failure="orders.note_failure",  # like every command orders sends: it owns the failure
    )


def passed(order: Order) -> bool:
    """Past ``confirm_by``: whatever answer comes now is too late, whether or not the timer has
    been handled yet."""
    return order.confirm_by is not None and timezone.now() >= order.confirm_by


def disarm(order: Order) -> None:
    """The order was settled in time: withdraw its timer if the relay still holds it."""
    cancel_timers(TIMER, str(order.id))


def reason(order: Order) -> str:
    """Worded from the order's own deadline: the process that enforces it may be configured
    with another timeout than the one that placed it."""
    allowed = (order.confirm_by - order.placed_at).total_seconds() if order.confirm_by else 0.0
    return f"timed out: not confirmed within {allowed:.0f} s"
