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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, overload

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, transaction
from django.db.models import Max

from core.eventstore import values
from core.models import EventRecord
from messaging.kernel import contracts
from messaging.kernel.envelope import Envelope

#: Key of the PostgreSQL advisory lock that serializes appends (any constant unique to us).
APPEND_LOCK_KEY = 0x5E0E17


class ConcurrencyError(Exception):
    """Another writer appended to the stream first: reload and decide again."""


@dataclass(frozen=True, eq=False)
class StoredEvent:
    """An event as read back: its data upcast to the newest schema version.

    Its metadata is decoded only when read (``metadata``): a replay or a rebuild folds
    ``type`` and ``data`` and never reads it, and decoding a second JSON column per event was
    a large share of a replay (docs/benchmarks.md, "Replay against the library's read").
    Two events are equal when every column is, the metadata included.
    """

    position: int
    stream_id: str
    version: int
    type: str
    schema_version: int
    stored_schema_version: int
    data: dict[str, Any]
    recorded_at: datetime
    #: The metadata column as read: JSON text from a raw read, or already a dict (a model's).
    metadata_source: str | dict[str, Any] = field(default="{}", repr=False)

    @functools.cached_property
    def metadata(self) -> dict[str, Any]:
        """message_id, correlation_id, causation_id, producer: decoded on first read."""
        source = self.metadata_source
        return json.loads(source) if isinstance(source, str) else source

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StoredEvent):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in (*_COLUMNS, "stored_schema_version"))

    __hash__ = None  # type: ignore[assignment]  # mutable dicts inside: as the generated eq had it


@overload
def append(
    stream_id: str,
    events: Sequence[Envelope],
    *,
    expected_version: int,
    stream_type: str = ...,
    records: Literal[True] = ...,
) -> list[EventRecord]: ...
@overload
def append(
    stream_id: str,
    events: Sequence[Envelope],
    *,
    expected_version: int,
    stream_type: str = ...,
    records: Literal[False],
) -> None: ...
def append(
    stream_id: str,
    events: Sequence[Envelope],
    *,
    expected_version: int,
    stream_type: str = "order",
    records: bool = True,
) -> list[EventRecord] | None:
    """Append ``events`` after ``expected_version``; ConcurrencyError if the stream moved on.
    Returns the stored records, or with ``records=False`` nothing (the services' appends, which
    never read them back, do not pay for building them).

    Why it is written this way (docs/benchmarks.md, "Append against the library's write"): an
    append is a handful of statements, so each statement and each round trip counts. The
    stream's version is one indexed ``ORDER BY version DESC LIMIT 1`` row, the events one raw
    INSERT whose values are prepared from the envelopes directly (core/eventstore/values.py),
    and only that INSERT runs under a savepoint: the unique (stream, version) pair may
    still refuse it (a writer that raced us on SQLite, or one that bypassed the lock), and the
    savepoint undoes this append alone, leaving the caller's transaction usable, as a refused
    check does. The check and the insert need one transaction, the PostgreSQL lock one held
    until commit: ``atomic(savepoint=False)`` opens it when the caller has none and adds no
    savepoint when it has one. Nothing is raised inside it, which would doom the caller's
    transaction: the refusal is raised after it. Rows are only inserted, never updated: the
    model's guards and the database's triggers (core/eventstore/triggers.py) still hold.
    """
    refused: str | None = None
    cause: IntegrityError | None = None
    positions: list[int] = []
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        actual = _locked_version(cursor, stream_id)
        if actual != expected_version:
            refused = "another writer appended first" if actual > expected_version else "the stream is not that long"
        elif events:
            params = values.prepared(stream_id, stream_type, events, expected_version=expected_version)
            try:
                positions = _insert_alone(cursor, len(events), params)
            except IntegrityError as exc:
                actual, refused, cause = _version(cursor, stream_id), "another writer appended first", exc
    if refused is not None:
        raise ConcurrencyError(
            f"stream {stream_id}: expected version {expected_version}, but it is at {actual}; {refused}"
        ) from cause
    if not records:
        return None
    return [
        _record(stream_id, stream_type, version, envelope, position)
        for (version, envelope), position in zip(enumerate(events, start=expected_version + 1), positions, strict=True)
    ]


def _record(stream_id: str, stream_type: str, version: int, envelope: Envelope, position: int) -> EventRecord:
    """The stored event as a saved model instance, for the callers that ask for it."""
    record = EventRecord(
        position=position,
        stream_id=stream_id,
        stream_type=stream_type,
        version=version,
        type=envelope.type,
        schema_version=envelope.version,
        data=envelope.data,
        metadata=values.metadata(envelope),
        message_id=envelope.id,
        recorded_at=envelope.occurred_at,
    )
    record._state.adding, record._state.db = False, DEFAULT_DB_ALIAS
    return record


#: The savepoint an append's INSERT runs under when sent with it (PostgreSQL, ``_together``).
_SAVEPOINT = "eventstore_append"


@functools.cache
def _together() -> bool:
    """Whether statements can travel in one round trip: on PostgreSQL through psycopg 3's
    client-side binding cursor, Django's default, each statement of the string still taking
    a snapshot of its own (READ COMMITTED). SQLite runs in-process: nothing to save there."""
    if connection.vendor != "postgresql":
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3  # PostgreSQL only

    return bool(is_psycopg3) and connection.settings_dict["OPTIONS"].get("server_side_binding") is not True


def _locked_version(cursor: Any, stream_id: str) -> int:
    """The stream's version, read on PostgreSQL after the append lock is ours. Sent together,
    the version's SELECT is still a statement of its own, whose snapshot is taken once the lock
    is granted: it sees every append committed before ours."""
    if not _together():
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [APPEND_LOCK_KEY])
        return _version(cursor, stream_id)
    cursor.execute(f"SELECT pg_advisory_xact_lock(%s); {_version_sql()}", [APPEND_LOCK_KEY, stream_id])
    cursor.nextset()
    row = cursor.fetchone()
    return int(row[0]) if row else 0


def _version(cursor: Any, stream_id: str) -> int:
    """The stream's last version, read from the (stream, version) unique index's last entry."""
    cursor.execute(_version_sql(), [stream_id])
    row = cursor.fetchone()
    return int(row[0]) if row else 0


def _insert_alone(cursor: Any, rows: int, params: list[Any]) -> list[int]:
    """The INSERT under a savepoint of its own, so that a refusal undoes this append only; on
    PostgreSQL the savepoint, the INSERT and the release are one round trip, and a refused INSERT
    is rolled back to the savepoint by hand, as ``atomic()`` would. Returns the positions."""
    if not _together():
        with transaction.atomic():
            cursor.execute(_insert_sql(rows), params)
            return [row[0] for row in cursor.fetchall()]
    statement = f"SAVEPOINT {_SAVEPOINT}; {_insert_sql(rows)}; RELEASE SAVEPOINT {_SAVEPOINT}"
    try:
        cursor.execute(statement, params)
    except IntegrityError:
        cursor.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}; RELEASE SAVEPOINT {_SAVEPOINT}")
        raise
    cursor.nextset()
    return [row[0] for row in cursor.fetchall()]


@functools.cache
def _version_sql() -> str:
    quote = connection.ops.quote_name
    stream, version = (quote(_columns()[name]) for name in ("stream_id", "version"))
    table = quote(EventRecord._meta.db_table)
    return f"SELECT {version} FROM {table} WHERE {stream} = %s ORDER BY {version} DESC LIMIT 1"


@functools.cache
def _columns() -> dict[str, str]:
    """Each concrete field's column, by field name."""
    return {field.name: field.column for field in EventRecord._meta.concrete_fields if field.column}


@functools.cache
def _insert_fields() -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The fields an append writes: those shared by its events, then each event's own, in the
    order core/eventstore/values.py prepares them (checked: a new column must be added there)."""
    fields = [field for field in EventRecord._meta.concrete_fields if field.name != "position"]
    by_name = {field.name: field for field in fields}
    if set(by_name) != {*values.SHARED, *values.OWN}:
        raise RuntimeError(f"the event table's columns {sorted(by_name)} are not those values.py prepares")
    return tuple(by_name[n] for n in values.SHARED), tuple(by_name[n] for n in values.OWN)


@functools.cache
def _insert_sql(rows: int) -> str:
    """``INSERT ... SELECT <stream>, v.* FROM (VALUES (...), ...) v RETURNING position`` for
    ``rows`` events: both SQLite (from 3.35) and PostgreSQL return the positions they assigned,
    in the order of the rows.

    Why the stream's values are sent once: psycopg caches how it parses a query with at most 50
    parameters, and an order's six events, nine values each, were 54 (the parse was 10% of an
    append); with the stream's two sent once they are 44.
    """
    quote, table = connection.ops.quote_name, EventRecord._meta.db_table
    shared, own = _insert_fields()
    columns = ", ".join(quote(_columns()[field.name]) for field in (*shared, *own))
    one = "(" + ", ".join(["%s"] * len(own)) + ")"
    stream = ", ".join(["%s"] * len(shared))
    position = quote(_columns()["position"])
    return (
        f"INSERT INTO {quote(table)} ({columns}) SELECT {stream}, v.* FROM (VALUES {', '.join([one] * rows)}) AS v "
        f"RETURNING {position}"
    )


def stream_version(stream_id: str) -> int:
    with connection.cursor() as cursor:
        return _version(cursor, stream_id)


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
    quote = connection.ops.quote_name
    columns = ", ".join(quote(_columns()[name]) for name in _COLUMNS)
    return f"SELECT {columns} FROM {quote(EventRecord._meta.db_table)}"


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
        if connection.vendor == "postgresql":
            _driver_timestamps(cursor.cursor)
        cursor.execute(f"{_select()} {where}", params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    return rows


def _driver_timestamps(cursor: Any) -> None:
    """Load ``recorded_at`` on this cursor with psycopg's own (C) loader, not Django's.

    Why: Django registers a subclass of psycopg's pure-Python timestamptz loader on every
    connection, to set the tzinfo it wants; on a replay that loader was about 30% of the time
    (docs/benchmarks.md). Django keeps the session's TimeZone at its own (UTC, USE_TZ), and
    psycopg's loader gives the session's zone, so the value is the one Django's loader gives:
    tests/unit/test_event_store.py compares a raw read with the model's, tzinfo included.
    Only this cursor changes (psycopg copies the adapters map on write), not the connection.
    """
    from psycopg import adapters as driver_adapters  # only on PostgreSQL: SQLite runs need no psycopg
    from psycopg.pq import Format

    oid = driver_adapters.types["timestamptz"].oid
    cursor.adapters.register_loader(oid, driver_adapters.get_loader(oid, Format.TEXT))


def _decoded(row: tuple[Any, ...]) -> StoredEvent:
    """A row as the driver returns it through Django's cursor: JSON columns as text on both
    databases, ``recorded_at`` aware on PostgreSQL and naive UTC on SQLite (USE_TZ stores UTC)."""
    position, stream_id, version, event_type, schema_version, data, metadata, recorded_at = row
    return _stored(
        position, stream_id, version, event_type, schema_version, json.loads(data), metadata, _aware(recorded_at)
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
    metadata: str | dict[str, Any],
    recorded_at: datetime,
) -> StoredEvent:
    """The event, its fields set in one step: the frozen dataclass's ``__init__`` sets each
    through ``object.__setattr__``, half of building an event on a replay (docs/benchmarks.md).
    Frozen it stays: assigning to a field afterwards still raises."""
    upcast_version, upcast_data = contracts.upcast(event_type, schema_version, data)
    event: StoredEvent = object.__new__(StoredEvent)
    event.__dict__.update(
        position=position,
        stream_id=stream_id,
        version=version,
        type=event_type,
        schema_version=upcast_version,
        stored_schema_version=schema_version,
        data=upcast_data,
        recorded_at=recorded_at,
        metadata_source=metadata,
    )
    return event
