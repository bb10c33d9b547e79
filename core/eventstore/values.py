"""An append's values, prepared from the envelopes directly: no model instance per event.

Why: on SQLite, where a round trip costs nothing, an append's cost was Python, and much of it
was building one ``EventRecord`` per event and letting each model field prepare its value
(docs/benchmarks.md, "Append against the library's write"). The event table's columns need only
four conversions, and they are the ones the fields do for this table on each vendor, written
once here:

- JSON (``data``, ``metadata``): ``json.dumps`` text on SQLite, psycopg's ``Jsonb`` on PostgreSQL
  (``JSONField`` without an encoder: Django's ``adapt_json_value``);
- the message id (``UUIDField``): 32 hex digits on SQLite, the UUID itself on PostgreSQL (native);
- ``recorded_at`` (``DateTimeField``, USE_TZ): naive UTC as text on SQLite, the aware datetime
  on PostgreSQL;
- the rest (strings and integers) as they are.

``tests/unit/test_event_store.py`` compares these values with the fields' own preparation on
the database the tests run on, and the rows read back with the model's, so the two cannot
drift apart unnoticed.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from messaging.kernel.envelope import Envelope

#: The columns an append writes, in the INSERT's order: the stream's two, sent once, then each
#: event's own. ``store._insert_fields`` checks the model still has exactly these.
SHARED = ("stream_id", "stream_type")
OWN = ("version", "type", "schema_version", "data", "metadata", "message_id", "recorded_at")

Convert = Callable[[Any], Any]


def metadata(envelope: Envelope) -> dict[str, Any]:
    """What an event's metadata column holds: where it came from, for tracing."""
    return {
        "message_id": str(envelope.id),
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id,
        "producer": envelope.producer,
    }


def prepared(stream_id: str, stream_type: str, events: Sequence[Envelope], *, expected_version: int) -> list[Any]:
    """The INSERT's parameters: the stream's values once, then each event's ``OWN`` values."""
    as_json, as_uuid, as_moment = converters()
    values: list[Any] = [stream_id, stream_type]
    for version, envelope in enumerate(events, start=expected_version + 1):
        values += (
            version,
            envelope.type,
            envelope.version,
            as_json(envelope.data),
            as_json(metadata(envelope)),
            as_uuid(envelope.id),
            as_moment(envelope.occurred_at),
        )
    return values


def converters() -> tuple[Convert, Convert, Convert]:
    """JSON, UUID and timestamp conversions for the connection's vendor."""
    return _converters(connection.vendor)


@functools.cache
def _converters(vendor: str) -> tuple[Convert, Convert, Convert]:
    if vendor == "postgresql":
        from psycopg.types.json import Jsonb  # PostgreSQL only: SQLite runs need no psycopg

        def as_jsonb(value: Any) -> Any:
            return Jsonb(value, dumps=json.dumps)

        return as_jsonb, _same, _same
    if vendor == "sqlite":
        return json.dumps, _hex, _naive_utc_text
    raise ImproperlyConfigured(f"the event store runs on SQLite and PostgreSQL, not on {vendor}")


def _same(value: Any) -> Any:
    return value


def _hex(value: uuid.UUID) -> str:
    return value.hex


def _naive_utc_text(moment: datetime) -> str:
    """As Django's SQLite backend stores an aware datetime under USE_TZ: naive UTC, ``str()``."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return str(moment)
