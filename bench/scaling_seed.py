"""Filling a database fast for the scaling curves: events and order summaries, inserted in bulk.

Taking a million events through the services would take hours (tens of orders a second), and the
curves measure reads, not appends. So one real order is taken through the services, and its
stored events are the template every seeded order copies (as ``append_to_store`` does in
bench/eventstore_writes.py), with a stream id, message ids and order id of its own. The rows go
in through the driver's bulk path (COPY on PostgreSQL, ``executemany`` on SQLite), a chunk of
orders per transaction: a million events in well under a minute.

Seeded orders are interleaved: within a chunk, every order's first event, then every order's
second, and so on, as concurrent orders would be recorded. A stream therefore spans several
read batches, which is the harder case for a rebuild (a summary is continued from the row the
previous batch wrote).

Order summaries for the dashboard are generated directly, with the searched values rare
(``summary_rows``), as tests/unit/test_dashboard_plans.py describes them at scale.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

# The app's modules are imported inside the functions that use them: Django is set up by the
# caller (bench/scaling.py) once the database for the run exists.

#: Orders per transaction (and per COPY or executemany) while seeding.
CHUNK_ORDERS = 2000
#: One stored event as the services recorded it: (type, schema version, data).
Recorded = tuple[str, int, dict[str, Any]]

#: Summaries: what the dashboard's filters look for, and how rare it is (1 row in N).
RARE_CUSTOMER = "Zelda Quux"
RARE_CUSTOMER_EVERY = 10_000
HIGH_TOTAL = Decimal("20000.00")
HIGH_TOTAL_EVERY = 500
FLAGGED_EVERY = 200
#: Status by row number modulo 20: mostly shipped, a few of each other status, on_hold the rarest.
STATUS_CYCLE = (
    ["shipped"] * 11 + ["paid"] * 2 + ["packed"] * 2 + ["confirmed", "placed", "cancelled", "cancelled", "on_hold"]
)


def _insert(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """``rows`` into ``table`` through the driver's bulk path, in the caller's transaction."""
    from django.db import connection

    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {quote(table)} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {quote(table)} ({names}) VALUES ({marks})", rows)


def _converters(model: Any, columns: Sequence[str]) -> list[Callable[[Any], Any]]:
    """Per column, what turns a Python value into what the driver takes: on SQLite, Django's own
    preparation for UUIDs and datetimes (hex text, naive UTC text); on PostgreSQL psycopg adapts
    them itself. JSON goes as text on both."""
    from django.db import connection

    def keep(value: Any) -> Any:
        return value

    if connection.vendor == "postgresql":
        return [keep] * len(columns)
    fields = {f.column: f for f in model._meta.concrete_fields}
    out: list[Callable[[Any], Any]] = []
    for column in columns:
        field = fields[column]
        if field.get_internal_type() in {"UUIDField", "DateTimeField"}:
            out.append(functools.partial(_prepared, field, connection))
        else:
            out.append(keep)
    return out


def _prepared(field: Any, connection: Any, value: Any) -> Any:
    return field.get_db_prep_value(value, connection)


EVENT_COLUMNS = (
    "stream_id",
    "stream_type",
    "version",
    "type",
    "schema_version",
    "data",
    "metadata",
    "message_id",
    "recorded_at",
)


def event_rows(template: Sequence[Recorded], orders: int, start: datetime) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of ``orders`` copies of ``template``, a chunk of orders at a time, interleaved."""
    from core.models import EventRecord

    convert = _converters(EventRecord, EVENT_COLUMNS)
    # The template's JSON, split around its order id, so each copy is a string join, not a dump.
    parts = [json.dumps({**data, "order_id": "\0"}).split('"\\u0000"') for _, _, data in template]
    for first in range(0, orders, CHUNK_ORDERS):
        streams = [str(uuid.uuid4()) for _ in range(min(CHUNK_ORDERS, orders - first))]
        rows = []
        for version, ((event_type, schema_version, _), split) in enumerate(zip(template, parts, strict=True), 1):
            for n, stream in enumerate(streams):
                message_id = uuid.uuid4()
                metadata = (
                    f'{{"message_id": "{message_id}", "correlation_id": "{stream}", '
                    f'"causation_id": null, "producer": "orders"}}'
                )
                moment = start + timedelta(milliseconds=first + n, microseconds=version)
                values = (stream, "order", version, event_type, schema_version, f'"{stream}"'.join(split), metadata,
                          message_id, moment)  # fmt: skip
                rows.append(tuple(c(v) for c, v in zip(convert, values, strict=True)))
        yield rows


def seed_events(template: Sequence[Recorded], orders: int) -> int:
    """Append ``orders`` copies of ``template`` to the event store in bulk. Returns the events."""
    from django.db import transaction

    from core.models import EventRecord

    table = EventRecord._meta.db_table
    written = 0
    for rows in event_rows(template, orders, datetime(2026, 1, 1, tzinfo=UTC)):
        with transaction.atomic():
            _insert(table, EVENT_COLUMNS, rows)
        written += len(rows)
    return written


SUMMARY_COLUMNS = (
    "order_id",
    "customer_name",
    "item_count",
    "total",
    "currency",
    "status",
    "placed_at",
    "shipped_at",
    "flagged",
    "risk_score",
)


def summary_row(i: int, start: datetime) -> tuple[Any, ...]:
    """Summary number ``i``: newer as ``i`` grows; the searched values rare, as in production."""
    status = STATUS_CYCLE[i % len(STATUS_CYCLE)]
    placed = start + timedelta(seconds=i)
    name = RARE_CUSTOMER if i % RARE_CUSTOMER_EVERY == RARE_CUSTOMER_EVERY // 2 else f"Customer {i % 997:03d}"
    total = HIGH_TOTAL if i % HIGH_TOTAL_EVERY == 0 else Decimal(i % 400) + Decimal("0.99")
    flagged = status == "on_hold" or i % FLAGGED_EVERY == 0
    shipped = placed + timedelta(days=2) if status == "shipped" else None
    return (uuid.uuid4(), name, 1 + i % 5, total, "EUR", status, placed, shipped, flagged, (i % 100) / 100)


def seed_summaries(first: int, last: int) -> None:
    """Summaries number ``first`` to ``last - 1``, in bulk, a chunk per transaction."""
    from django.db import transaction

    from readmodel.models import OrderSummary

    convert = _converters(OrderSummary, SUMMARY_COLUMNS)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for chunk in range(first, last, CHUNK_ORDERS * 5):
        rows = [
            tuple(c(v) for c, v in zip(convert, summary_row(i, start), strict=True))
            for i in range(chunk, min(chunk + CHUNK_ORDERS * 5, last))
        ]
        with transaction.atomic():
            _insert(OrderSummary._meta.db_table, SUMMARY_COLUMNS, rows)
