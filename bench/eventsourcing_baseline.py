"""The baseline for bench/eventstore.py: the same order lifecycle on the ``eventsourcing`` library.

Our event store is a table behind the Django ORM, written by the order services. Whether that
is a reasonable design is a question of cost, and the fair yardstick is a library built for
event sourcing, on the same database, recording the same facts. So this module models the
order as an ``eventsourcing`` aggregate whose six events (placed, risk scored, confirmed, paid,
packed, shipped) carry the payloads our services record, and measures the library the way an
application would use it:

- writes as a command handler does, one step per transaction: load the order
  (``repository.get``), call the step, ``save``. Our services also load the order row, check the
  transition and append in one transaction per step;
- the notification log read page by page in position order and decoded through the app's
  mapper, as our replay reads and decodes the store (optionally folding, like our replay does);
- single aggregates rebuilt with ``repository.get``, as ``GET /api/orders/{id}/state`` replays
  one stream.

Nothing here imports Django: the library brings its own connections (``eventsourcing.sqlite``,
``eventsourcing.postgres``), and sharing ours would measure Django instead of the library.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, cast
from urllib.parse import urlsplit
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, CanMutateProtocol, event

#: What one lifecycle step records: our event type and its payload (without the order id,
#: which the library keeps as the aggregate id).
Fact = tuple[str, Mapping[str, Any]]

LIBRARY_VERSION = version("eventsourcing")


class Order(Aggregate):
    """The order as the library models it: one decorated method per event, whose body is the
    fold step (the library replays an aggregate by calling them again)."""

    @event("Placed")
    def __init__(
        self,
        id: UUID,
        user_id: int,
        items: list[dict[str, Any]],
        amount: str,
        currency: str,
        placed_at: str,
        card_last4: str,
    ) -> None:
        self.status = "placed"
        self.total = amount
        self.currency = currency

    @event("RiskScored")
    def score(self, risk_score: float) -> None:
        self.risk_score = risk_score

    @event("Confirmed")
    def confirm(self, user_id: int, items: list[dict[str, Any]], total: str, confirmed_at: str) -> None:
        self.status = "confirmed"
        self.reserved_at = confirmed_at

    @event("Paid")
    def pay(self, method: str, paid_at: str) -> None:
        self.status = "paid"
        self.payment_method = method

    @event("Packed")
    def pack(self, warehouse: str, packed_at: str) -> None:
        self.status = "packed"
        self.warehouse = warehouse

    @event("Shipped")
    def ship(self, carrier: str, tracking: str, shipped_at: str) -> None:
        self.status = "shipped"
        self.carrier = carrier
        self.tracking = tracking
        self.shipped_at = shipped_at


def place(order_id: UUID, data: Mapping[str, Any]) -> Order:
    return Order(
        id=order_id,
        user_id=data["user_id"],
        items=data["items"],
        amount=data["amount"],
        currency=data["currency"],
        placed_at=data["placed_at"],
        card_last4=data["card_last4"],
    )


def advance(order: Order, event_type: str, data: Mapping[str, Any]) -> None:
    """Apply one of our lifecycle events after ``order.placed`` to the library's aggregate."""
    match event_type:
        case "order.risk_scored":
            order.score(risk_score=data["risk_score"])
        case "order.confirmed":
            order.confirm(
                user_id=data["user_id"], items=data["items"], total=data["total"], confirmed_at=data["confirmed_at"]
            )
        case "order.paid":
            order.pay(method=data["method"], paid_at=data["paid_at"])
        case "order.packed":
            order.pack(warehouse=data["warehouse"], packed_at=data["packed_at"])
        case "order.shipped":
            order.ship(carrier=data["carrier"], tracking=data["tracking"], shipped_at=data["shipped_at"])
        case _:
            raise ValueError(f"the baseline has no step for {event_type}")


def build(order_id: UUID, facts: Sequence[Fact]) -> Order:
    """An order with its whole lifecycle pending, to be saved at once."""
    (first, placed), *rest = facts
    assert first == "order.placed", first
    order = place(order_id, placed)
    for event_type, data in rest:
        advance(order, event_type, data)
    return order


class Baseline(Application[UUID]):
    """The library's application. Its table is ``stored_events`` on SQLite and ``baseline_events``
    on PostgreSQL (the library names it after the application there); neither is one of ours."""

    #: The notification log hands out pages of at most this many events: our replay's page size.
    log_section_size = 5000


def sqlite_env(path: str) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path}


def postgres_env(database_url: str) -> dict[str, str]:
    """The library's settings for the database a ``postgres://user:pass@host:port/name`` URL names."""
    url = urlsplit(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/"),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
    }


@contextmanager
def opened(env: Mapping[str, str]) -> Iterator[Baseline]:
    """The application, with its connections closed at the end (the PostgreSQL pool's threads
    would otherwise outlive the measurement)."""
    app = Baseline(env=dict(env))
    try:
        yield app
    finally:
        app.close()


@dataclass(frozen=True)
class Timing:
    """``count`` things done in ``seconds`` (shared with bench/eventstore*.py). Timings of the
    parts of one measurement add up."""

    count: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def __add__(self, other: Timing) -> Timing:
        return Timing(self.count + other.count, self.seconds + other.seconds)


def write_step_by_step(app: Baseline, orders: Sequence[tuple[UUID, Sequence[Fact]]]) -> Timing:
    """Each lifecycle step its own transaction, the order loaded before each step but the first:
    how a command handler on the library writes, and how our services write. Counts events."""
    events = 0
    started = time.perf_counter()
    for order_id, ((_, placed), *steps) in orders:
        app.save(place(order_id, placed))
        for event_type, data in steps:
            order: Order = app.repository.get(order_id)
            advance(order, event_type, data)
            app.save(order)
        events += 1 + len(steps)
    return Timing(events, time.perf_counter() - started)


def write_whole_orders(app: Baseline, orders: Sequence[tuple[UUID, Sequence[Fact]]], *, per_save: int) -> Timing:
    """``per_save`` orders with their whole lifecycles in one transaction: the library's best
    case (with ``per_save=1``: one save per order). Counts events."""
    events = 0
    started = time.perf_counter()
    for first in range(0, len(orders), per_save):
        aggregates = [build(order_id, facts) for order_id, facts in orders[first : first + per_save]]
        app.save(*aggregates)
        events += sum(len(facts) for _, facts in orders[first : first + per_save])
    return Timing(events, time.perf_counter() - started)


def read_all(app: Baseline, *, fold: bool = False) -> Timing:
    """Read the notification log in order, a page at a time, decoding each notification into its
    domain event; with ``fold``, also apply each event to its aggregate, as our replay folds."""
    mapper, log = app.mapper, app.notification_log
    aggregates: dict[UUID, Order | None] = {}
    after, count = 0, 0
    started = time.perf_counter()
    while page := log.select(after, log.section_size, inclusive_of_start=False):
        for notification in page:
            domain_event = mapper.to_domain_event(notification)
            if fold:
                mutator = cast("CanMutateProtocol[Order]", domain_event)
                order_id = domain_event.originator_id
                aggregates[order_id] = mutator.mutate(aggregates.get(order_id))
        after, count = page[-1].id, count + len(page)
    elapsed = time.perf_counter() - started
    assert not fold or all(order is not None and order.status == "shipped" for order in aggregates.values())
    return Timing(count, elapsed)


def replay_aggregates(app: Baseline, order_ids: Sequence[UUID]) -> Timing:
    """Rebuild each order from its events with ``repository.get`` (no cache: the library's
    default). Counts events."""
    events = 0
    started = time.perf_counter()
    for order_id in order_ids:
        order: Order = app.repository.get(order_id)
        events += order.version
    return Timing(events, time.perf_counter() - started)
