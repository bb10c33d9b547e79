"""The admin index's comparison of the two modes, read from this database.

A newcomer opening the admin should see the lesson's point before any table of rows: for the
orders actually placed here, how many messages each mode needed, whom the order service had to
name, what went wrong, and what history was kept. Every figure is counted from the orders, the
message log, the dead letters and the event store; none is written by hand.

The message log and the event store refer to an order by its id as a string (``correlation_id``,
``stream_id``), which no database can join to the order's UUID column portably (SQLite stores
UUIDs without dashes). So the rows are grouped in the database, and the groups are joined to the
orders' modes here, in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db.models import Count

from core.models import DeadLetter, EventRecord, MessageLog
from lesson.evidence import tables as measured_tables
from lesson.evidence.model import TableRow
from lesson.walkthrough.summary import PRODUCER
from messaging.celery_adapter.settings import FLOW_MODES
from orders.models import FlowMode, Order


@dataclass
class ModeFigures:
    """What the orders of one mode caused."""

    mode: str
    label: str
    orders: int = 0
    sent_by_producer: int = 0  # messages the order service sent (commands or events)
    sent_in_all: int = 0  # every message sent for these orders: replies and follow-ups too
    commands_named: list[str] = field(default_factory=list)  # commands the order service addressed
    consumers_named: list[str] = field(default_factory=list)  # the services those commands reached
    services_reached: list[str] = field(default_factory=list)  # everyone who handled its messages
    dead_lettered: int = 0  # deliveries a consumer gave up on (message log)
    stored_events: int = 0  # events in these orders' streams
    latest_order_id: str = ""

    @property
    def producer_per_order(self) -> float | None:
        return self.sent_by_producer / self.orders if self.orders else None

    @property
    def all_per_order(self) -> float | None:
        return self.sent_in_all / self.orders if self.orders else None


@dataclass(frozen=True)
class ComparisonSummary:
    modes: tuple[ModeFigures, ...]
    dead_letters: int  # every dead letter, whatever sent it
    dead_letters_waiting: int  # not retried yet
    stored_events: int  # the whole event store
    streams: int


def comparison_summary() -> ComparisonSummary:
    """Both modes' figures, and the totals the index links to."""
    labels = dict(FlowMode.choices)
    figures = {mode: ModeFigures(mode, labels.get(mode, mode)) for mode in FLOW_MODES}
    mode_of = _order_modes(figures)
    _count_messages(figures, mode_of)
    events = EventRecord.objects.order_by().values_list("stream_id").annotate(n=Count("position"))
    streams = 0
    for stream_id, count in events:
        streams += 1
        mode = mode_of.get(stream_id)
        if mode in figures:
            figures[mode].stored_events += count
    return ComparisonSummary(
        modes=tuple(figures.values()),
        dead_letters=DeadLetter.objects.count(),
        dead_letters_waiting=DeadLetter.objects.filter(retried_at__isnull=True).count(),
        stored_events=EventRecord.objects.count(),
        streams=streams,
    )


@dataclass(frozen=True)
class LessonTable:
    """One of the lesson's two tables, headed as the lesson heads it."""

    number: int
    title: str
    columns: tuple[str, str]
    rows: tuple[TableRow, ...]


LESSON_TABLES = {
    1: ("Commands vs events", ("Command-based", "Event-based")),
    2: ("Queue-based vs event-driven architecture", ("Queue-based", "Event-driven")),
}


def comparison_tables() -> list[LessonTable]:
    """The lesson's two tables, every cell as the evidence package measured it (lesson/evidence)."""
    rows = measured_tables.comparison_tables()
    return [
        LessonTable(number, title, columns, tuple(row for row in rows if row.table == number))
        for number, (title, columns) in LESSON_TABLES.items()
    ]


def _order_modes(figures: dict[str, ModeFigures]) -> dict[str, str]:
    """Order id (as the log writes it) -> mode; counts the orders and finds each mode's latest."""
    mode_of: dict[str, str] = {}
    for order_id, mode in Order.objects.order_by("-placed_at").values_list("id", "mode").iterator():
        key = str(order_id)
        mode_of[key] = mode
        if mode in figures:
            figures[mode].orders += 1
            figures[mode].latest_order_id = figures[mode].latest_order_id or key
    return mode_of


def _count_messages(figures: dict[str, ModeFigures], mode_of: dict[str, str]) -> None:
    """Sent messages per mode and sender, and who handled what the order service sent."""
    producer_names: dict[str, set[str]] = {mode: set() for mode in figures}
    commands: dict[str, set[str]] = {mode: set() for mode in figures}
    handlers: dict[tuple[str, str], set[str]] = {}  # (mode, message name) -> services
    for mode, kind, name, service, status, count in _grouped_log(mode_of):
        if mode not in figures:
            continue
        tally = figures[mode]
        if status == MessageLog.Status.SENT:
            tally.sent_in_all += count
            if service == PRODUCER:
                tally.sent_by_producer += count
                producer_names[mode].add(name)
                if kind == "command":
                    commands[mode].add(name)
            continue
        handlers.setdefault((mode, name), set()).add(service)
        if status == MessageLog.Status.DEAD_LETTERED:
            tally.dead_lettered += count
    for mode, tally in figures.items():
        tally.commands_named = sorted(commands[mode])
        tally.consumers_named = _union(handlers.get((mode, name), set()) for name in commands[mode])
        tally.services_reached = _union(handlers.get((mode, name), set()) for name in producer_names[mode])


def _grouped_log(mode_of: dict[str, str]) -> Iterator[tuple[str, str, str, str, str, int]]:
    """(mode, kind, name, service, status, rows) for every order's log rows, grouped in the database."""
    grouped = (
        MessageLog.objects.order_by()  # no default ordering: it would split the groups
        .values_list("correlation_id", "kind", "name", "service", "status")
        .annotate(n=Count("id"))
    )
    for correlation_id, kind, name, service, status, count in grouped.iterator():
        mode = mode_of.get(correlation_id)
        if mode is not None:
            yield mode, kind, name, service, status, count


def _union(groups: Iterable[set[str]]) -> list[str]:
    out: set[str] = set()
    for group in groups:
        out |= group
    return sorted(out)
