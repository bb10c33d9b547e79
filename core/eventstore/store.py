"""Append and read. Appends are optimistic (a unique (stream, version) pair) and, on
PostgreSQL, serialized, so global positions become visible in the order they were assigned.

Why serialize: a position comes from a sequence when the row is inserted, but becomes visible
when its transaction commits. Two concurrent appends can commit in the opposite order to their
positions, and a reader that has already moved past the later position would skip the earlier
one for good. The ``eventsourcing`` library takes a table lock for this; we take a
transaction-scoped advisory lock, which does the same for appends only. SQLite has a single
writer and needs nothing. (tests/integration/test_event_store_postgres.py shows the problem
and the fix.)
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Max

from core.models import EventRecord
from messaging.kernel import contracts
from messaging.kernel.envelope import Envelope

#: Key of the PostgreSQL advisory lock that serializes appends (any constant unique to us).
APPEND_LOCK_KEY = 0x5E0E17


class ConcurrencyError(Exception):
    """Another writer appended to the stream first: reload and decide again."""


@dataclass(frozen=True)
class StoredEvent:
    """An event as read back: its data upcast to the newest schema version."""

    position: int
    stream_id: str
    version: int
    type: str
    schema_version: int
    stored_schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime


def append(
    stream_id: str, events: Sequence[Envelope], *, expected_version: int, stream_type: str = "order"
) -> list[EventRecord]:
    """Append ``events`` after ``expected_version``; ConcurrencyError if the stream moved on."""
    records = [
        EventRecord(
            stream_id=stream_id,
            stream_type=stream_type,
            version=expected_version + offset,
            type=envelope.type,
            schema_version=envelope.version,
            data=envelope.data,
            metadata={
                "message_id": str(envelope.id),
                "correlation_id": envelope.correlation_id,
                "causation_id": envelope.causation_id,
                "producer": envelope.producer,
            },
            message_id=envelope.id,
            recorded_at=envelope.occurred_at,
        )
        for offset, envelope in enumerate(events, start=1)
    ]
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [APPEND_LOCK_KEY])
        actual = stream_version(stream_id)
        if actual != expected_version:
            why = "another writer appended first" if actual > expected_version else "the stream is not that long"
            raise ConcurrencyError(
                f"stream {stream_id}: expected version {expected_version}, but it is at {actual}; {why}"
            )
        try:
            with transaction.atomic():
                return EventRecord.objects.bulk_create(records)
        except IntegrityError as exc:
            actual = stream_version(stream_id)
            raise ConcurrencyError(
                f"stream {stream_id}: expected version {expected_version}, but it is at {actual}; "
                f"another writer appended first"
            ) from exc


def stream_version(stream_id: str) -> int:
    return EventRecord.objects.filter(stream_id=stream_id).aggregate(v=Max("version"))["v"] or 0


def head_position() -> int:
    return EventRecord.objects.aggregate(p=Max("position"))["p"] or 0


#: The columns a read returns, in StoredEvent's order.
_COLUMNS = ("position", "stream_id", "version", "type", "schema_version", "data", "metadata", "recorded_at")


@functools.cache
def _select() -> str:
    """``SELECT <_COLUMNS> FROM <event table>``, the names taken from the model.

    Why raw SQL for reads: a replay reads every row of the store, and per row the ORM's
    machinery (building a model instance, then, with ``values_list``, its per-field converters)
    cost more than the read itself. Replay of 20,000 events against the ``eventsourcing``
    library's notification-log read went from 0.68x to 1.13x on SQLite and from 0.65x to 0.70x
    on PostgreSQL, where Django's own timestamp loader is the largest cost left
    (bench/eventstore.py, docs/benchmarks.md). Writes still go through the model, which guards
    immutability.
    """
    meta, quote = EventRecord._meta, connection.ops.quote_name
    column_of = {field.name: field.column for field in meta.concrete_fields if field.column}
    columns = ", ".join(quote(column_of[name]) for name in _COLUMNS)
    return f"SELECT {columns} FROM {quote(meta.db_table)}"


def read_all(*, after_position: int = 0, limit: int = 1000, stream_type: str | None = None) -> list[StoredEvent]:
    """Up to ``limit`` events after ``after_position``, in position order; only streams of
    ``stream_type`` if given (a rebuild of one projection skips the others' rows in the query)."""
    if stream_type is None:
        return [_decoded(row) for row in _fetch(_AFTER_POSITION, [after_position, limit])]
    rows = _fetch(_OF_TYPE_AFTER_POSITION, [after_position, stream_type, limit])
    return [_decoded(row) for row in rows]


def iter_all(*, after_position: int = 0, page_size: int = 1000) -> Iterator[StoredEvent]:
    """Every event after ``after_position`` in position order, for a fold over the whole store.

    Rows are fetched a page at a time but decoded one at a time, so each event can be dropped
    as soon as it is folded: memory stays flat, and the garbage collector is not set off again
    and again by a page of thousands of live dicts.
    """
    while rows := _fetch(_AFTER_POSITION, [after_position, page_size]):
        for row in rows:
            yield _decoded(row)
        after_position = rows[-1][0]


def read_stream(stream_id: str, *, until_version: int | None = None) -> list[StoredEvent]:
    if until_version is None:
        rows = _fetch("WHERE stream_id = %s ORDER BY version", [stream_id])
    else:
        rows = _fetch("WHERE stream_id = %s AND version <= %s ORDER BY version", [stream_id, until_version])
    return [_decoded(row) for row in rows]


_AFTER_POSITION = "WHERE position > %s ORDER BY position LIMIT %s"
_OF_TYPE_AFTER_POSITION = "WHERE position > %s AND stream_type = %s ORDER BY position LIMIT %s"


def _fetch(where: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(f"{_select()} {where}", params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    return rows


def _decoded(row: tuple[Any, ...]) -> StoredEvent:
    """A row as the driver returns it through Django's cursor: JSON columns as text on both
    databases, ``recorded_at`` aware on PostgreSQL and naive UTC on SQLite (USE_TZ stores UTC)."""
    position, stream_id, version, event_type, schema_version, data, metadata, recorded_at = row
    return _stored(
        position,
        stream_id,
        version,
        event_type,
        schema_version,
        json.loads(data),
        json.loads(metadata),
        _aware(recorded_at),
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def to_stored(record: EventRecord) -> StoredEvent:
    return _stored(*(getattr(record, column) for column in _COLUMNS))


def _stored(
    position: int,
    stream_id: str,
    version: int,
    event_type: str,
    schema_version: int,
    data: dict[str, Any],
    metadata: dict[str, Any],
    recorded_at: datetime,
) -> StoredEvent:
    upcast_version, upcast_data = contracts.upcast(event_type, schema_version, data)
    return StoredEvent(
        position=position,
        stream_id=stream_id,
        version=version,
        type=event_type,
        schema_version=upcast_version,
        stored_schema_version=schema_version,
        data=upcast_data,
        metadata=metadata,
        recorded_at=recorded_at,
    )
