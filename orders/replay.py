"""Time travel and self-checks for event-mode orders: fold a stream (or a prefix of it) through
the lifecycle reducer, and compare the result with the order row.

This is the lesson's ``getCurrentState`` put to work. Event mode appends every lifecycle event to
the order's stream, so the state after any version is ``lifecycle.replay`` of the first N events.
Command mode overwrites the order row in place and keeps no stream: asking for its history is a
409, not an empty answer, because there is nothing to replay.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from core.eventstore import store
from core.eventstore.store import StoredEvent
from orders import lifecycle
from orders.errors import OrderError, OrderNotFound
from orders.models import FlowMode, Order
from orders.rows import row_state

NO_HISTORY_NOTE = "command mode overwrites the order row in place; no history exists"
NO_HISTORY = f"{NO_HISTORY_NOTE} to replay"
NO_STREAM = "this event-mode order has no events in the event store, so there is nothing to replay"


class NoHistory(OrderError):
    """The order keeps no stream to replay (HTTP 409: the order's mode, not the request, is why)."""

    status = 409


@dataclass(frozen=True)
class ReplayedEvent:
    version: int
    position: int
    type: str
    schema_version: int
    stored_schema_version: int
    recorded_at: datetime
    data: dict[str, Any]


@dataclass(frozen=True)
class ReplayedState:
    """The order as it was after ``version`` events (``version == stream_version``: as it is now)."""

    order_id: uuid.UUID
    version: int
    stream_version: int
    state: dict[str, Any]
    events: list[ReplayedEvent]


@dataclass(frozen=True)
class Drift:
    """One field where the order row and the replay of its stream disagree."""

    order_id: uuid.UUID
    field: str
    row_value: Any
    replayed_value: Any


def state_at(order_id: uuid.UUID, version: int | None = None) -> ReplayedState:
    """The state after the first ``version`` events of the order's stream (None: all of them).

    Raises OrderNotFound (404) naming ``id`` for an unknown order, NoHistory (409) for a
    command-mode order, and OrderNotFound (404) naming ``version`` past the stream's current
    version: no such state exists (yet). Not a 422: the number is well formed, and no bound the
    API could state in advance refuses it (each stream has its own length). Below 1 is the
    schema's 422.
    """
    order = Order.objects.filter(pk=order_id).only("id", "mode").first()
    if order is None:
        raise OrderNotFound("id", f"no order with id {order_id}")
    return state_of(order, version)


def state_of(order: Order, version: int | None = None) -> ReplayedState:
    """``state_at`` for an order already loaded."""
    _require_history(order)
    head = store.stream_version(str(order.id))
    if head == 0:
        raise NoHistory("mode", NO_STREAM)
    if version is not None and version < 1:
        raise OrderError("version", "version must be at least 1")
    if version is not None and version > head:
        raise OrderNotFound("version", f"no version {version}: the order's stream is at version {head}")
    return _replayed_state(order, store.read_stream(str(order.id), until_version=version), head)


def audit(order: Order) -> tuple[ReplayedState, list[Drift]]:
    """The whole stream replayed, and where the row disagrees with it: one read of the stream."""
    _require_history(order)
    events = store.read_stream(str(order.id))
    if not events:
        raise NoHistory("mode", NO_STREAM)
    return _replayed_state(order, events, events[-1].version), drift(order, events)


def fold(events: Sequence[StoredEvent]) -> lifecycle.State:
    """``lifecycle.replay`` over stored events: the state as the reducer holds it (Decimals, datetimes)."""
    return lifecycle.replay((event.type, event.data) for event in events)


def drift(order: Order, events: Sequence[StoredEvent]) -> list[Drift]:
    """Where the row disagrees with the replay of ``events``, its whole stream.

    Only the keys the replay produces are compared: a fact no event stated (a command-mode-only
    column, say) cannot drift. The row's ``version`` must equal the stream's head as well.
    """
    if not events:
        return [Drift(order.id, "stream", f"row at version {order.version}", "no events in the store")]
    replayed = fold(events)
    row = {**row_state(order), "version": order.version}
    replayed["version"] = events[-1].version
    return [
        Drift(order.id, name, row[name], value)
        for name, value in replayed.items()
        if name in row and not _same(row[name], value)
    ]


def check_consistency(orders: Iterable[Order] | None = None) -> Iterator[Drift]:
    """Every drift between an event-mode order row and its stream, order by order.

    On a live system an order may change between reading its row and reading its stream; a
    drift is therefore checked a second time, with both re-read, before it is reported.
    """
    rows = orders if orders is not None else Order.objects.filter(mode=FlowMode.EVENT).order_by("placed_at").iterator()
    for order in rows:
        if drift(order, store.read_stream(str(order.id))):
            order.refresh_from_db()
            yield from drift(order, store.read_stream(str(order.id)))


def jsonable(value: Any) -> Any:
    """The state in JSON terms: Decimals as strings (no float rounding), datetimes in ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def _same(row_value: Any, replayed_value: Any) -> bool:
    # The row stores "" where an event never set a text field; replay leaves it None.
    if row_value in ("", None) and replayed_value in ("", None):
        return True
    return bool(row_value == replayed_value)


def _require_history(order: Order) -> None:
    if order.mode != FlowMode.EVENT:
        raise NoHistory("mode", NO_HISTORY)


def _replayed_state(order: Order, events: Sequence[StoredEvent], head: int) -> ReplayedState:
    return ReplayedState(
        order_id=order.id,
        version=events[-1].version,
        stream_version=head,
        state=jsonable(fold(events)),
        events=[_replayed(event) for event in events],
    )


def _replayed(event: StoredEvent) -> ReplayedEvent:
    return ReplayedEvent(
        version=event.version,
        position=event.position,
        type=event.type,
        schema_version=event.schema_version,
        stored_schema_version=event.stored_schema_version,
        recorded_at=event.recorded_at,
        data=jsonable(event.data),
    )
