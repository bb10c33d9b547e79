"""Event mode: the order service states what happened, once, to the ``events`` exchange.

No consumer is named here. Inventory, payments, analytics, fraud detection, notifications and
the read-model projector each subscribe from their own app; adding one changes nothing in this
file. The fulfilment saga is choreographed: inventory reserves on ``order.placed``, payments
authorizes once the stock is reserved, orders confirms once payments states the authorization
(orders/handlers.py), and each service undoes its part on ``order.cancelled``. Nobody holds the
plan; the admin reconstructs each order's run from the correlation id.

Every event is also appended to the order's stream in the event store, in the same transaction
as the order row: the stream is the order's history, and replaying it rebuilds the row.
"""

from __future__ import annotations

from typing import Any

from core.eventstore import store
from messaging.kernel.envelope import Envelope
from messaging.kernel.wiring import bus
from orders.models import Order

PRODUCER = "orders"


def placed(order: Order, *, data: dict[str, Any]) -> None:
    _record("order.placed", order, data, cause=None)


def confirmed(order: Order, *, data: dict[str, Any], cause: Envelope | None) -> None:
    _record("order.confirmed", order, data, cause=cause)


def cancelled(order: Order, *, data: dict[str, Any], cause: Envelope | None) -> None:
    _record("order.cancelled", order, data, cause=cause)


def rejected(order: Order, *, data: dict[str, Any], cause: Envelope) -> None:
    _record("order.cancelled", order, data, cause=cause)


def timed_out(order: Order, *, data: dict[str, Any], cause: Envelope) -> None:
    # The same fact as any cancellation: inventory and payments undo their part on it.
    _record("order.cancelled", order, data, cause=cause)


def held(order: Order, *, data: dict[str, Any], cause: Envelope | None) -> None:
    _record("order.held", order, data, cause=cause)


def awaiting_review(order: Order, *, data: dict[str, Any], cause: Envelope) -> None:
    _record("order.authorized", order, data, cause=cause)


def released(order: Order, *, data: dict[str, Any]) -> None:
    _record("order.released", order, data, cause=None)


def rejected_on_review(order: Order, *, data: dict[str, Any]) -> None:
    # A cancellation like any other: inventory releases and payments voids on it by themselves.
    _record("order.cancelled", order, data, cause=None)


def progressed(order: Order, *, event_type: str, data: dict[str, Any], cause: Envelope | None = None) -> None:
    _record(event_type, order, data, cause=cause)


def _record(event_type: str, order: Order, data: dict[str, Any], *, cause: Envelope | None) -> None:
    envelope = bus().events.publish(event_type, data, producer=PRODUCER, correlation_id=str(order.id), caused_by=cause)
    store.append(str(order.id), [envelope], expected_version=order.version, records=False)
    order.version += 1
    order.save(update_fields=["version"])
