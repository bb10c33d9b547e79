"""The event store's guarantees: ordered appends, optimistic concurrency, rows that never change,
and the same transaction as the order it records. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from django.db import DatabaseError, connection, connections, transaction

from catalog.models import Customer, Product
from core.eventstore import store, triggers, values
from core.eventstore.store import ConcurrencyError
from core.models import EventRecord
from core.models.eventstore import ImmutableEventError
from messaging.kernel.envelope import Envelope
from messaging.kernel.names import Kind
from orders.models import FlowMode, Order
from orders.services import LineRequest, cancel_order, pay_order, place_order
from tests.fakes import RecordingTransport

pytestmark = pytest.mark.db_engine

WHEN = "2025-01-01T12:00:00+00:00"


def paid(stream_id: str, method: str = "card") -> Envelope:
    """An ``order.paid`` event for the stream, as the order service would publish it."""
    return Envelope(
        kind=Kind.EVENT,
        type="order.paid",
        correlation_id=stream_id,
        producer="orders",
        data={"order_id": stream_id, "method": method, "paid_at": WHEN},
    )


def new_stream() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def stream() -> str:
    return new_stream()


@pytest.fixture
def stored(db: None, stream: str) -> EventRecord:
    """One stored event, to try to change."""
    (record,) = store.append(stream, [paid(stream)], expected_version=0)
    return record


# --- appending and reading -------------------------------------------------------------------


@pytest.mark.django_db
def test_append_assigns_versions_one_to_n_and_increasing_positions(stream: str) -> None:
    first = store.append(stream, [paid(stream, "card"), paid(stream, "cash"), paid(stream, "iou")], expected_version=0)
    more = store.append(stream, [paid(stream, "gift"), paid(stream, "bank")], expected_version=3)

    records = [*first, *more]
    assert [r.version for r in records] == [1, 2, 3, 4, 5]
    positions = [r.position for r in records]
    assert all(isinstance(p, int) for p in positions), "bulk_create must return the assigned positions"
    assert positions == sorted(positions) and len(set(positions)) == 5
    assert store.stream_version(stream) == 5
    assert store.head_position() == positions[-1]

    events = store.read_stream(stream)
    assert [(e.version, e.position, e.data["method"]) for e in events] == [
        (1, positions[0], "card"),
        (2, positions[1], "cash"),
        (3, positions[2], "iou"),
        (4, positions[3], "gift"),
        (5, positions[4], "bank"),
    ]
    assert [e.version for e in store.read_stream(stream, until_version=2)] == [1, 2]


@pytest.mark.django_db
def test_streams_are_numbered_independently_and_read_all_follows_positions() -> None:
    a, b = new_stream(), new_stream()
    start = store.head_position()
    store.append(a, [paid(a)], expected_version=0)
    store.append(b, [paid(b)], expected_version=0)
    store.append(a, [paid(a)], expected_version=1)

    everything = store.read_all(after_position=start)
    assert [(e.stream_id, e.version) for e in everything] == [(a, 1), (b, 1), (a, 2)]
    assert [e.position for e in everything] == sorted(e.position for e in everything)
    assert [e.stream_id for e in store.read_all(after_position=everything[0].position, limit=1)] == [b]


@pytest.mark.django_db
def test_iter_all_reads_across_pages_in_position_order() -> None:
    a, b = new_stream(), new_stream()
    start = store.head_position()
    store.append(a, [paid(a, "card"), paid(a, "cash")], expected_version=0)
    store.append(b, [paid(b, "iou")], expected_version=0)
    store.append(a, [paid(a, "gift"), paid(a, "bank")], expected_version=2)

    paged = list(store.iter_all(after_position=start, page_size=2))

    assert [(e.stream_id, e.version, e.data["method"]) for e in paged] == [
        (a, 1, "card"),
        (a, 2, "cash"),
        (b, 1, "iou"),
        (a, 3, "gift"),
        (a, 4, "bank"),
    ]
    assert paged == store.read_all(after_position=start)


@pytest.mark.django_db
def test_reads_decode_rows_exactly_as_the_model_does(stream: str) -> None:
    """Reads skip the ORM (for replay speed); what they return must not differ from the model."""
    store.append(stream, [paid(stream)], expected_version=0)
    (record,) = EventRecord.objects.filter(stream_id=stream)

    (read,) = store.read_stream(stream)

    assert read == store.to_stored(record)
    assert read.recorded_at.utcoffset() is not None, "recorded_at must come back aware, as the model's does"
    # Equal aware datetimes may still differ in zone; on PostgreSQL the read uses another loader.
    assert (read.recorded_at.tzinfo, read.recorded_at.isoformat()) == (
        record.recorded_at.tzinfo,
        record.recorded_at.isoformat(),
    )


@pytest.mark.django_db
def test_stored_metadata_comes_from_the_envelope(stream: str) -> None:
    cause = paid(stream)
    envelope = cause.caused(
        kind=Kind.EVENT,
        type="order.packed",
        producer="orders",
        data={"order_id": stream, "warehouse": "north", "packed_at": WHEN},
    )
    (record,) = store.append(stream, [envelope], expected_version=0)
    record.refresh_from_db()
    assert record.message_id == envelope.id
    assert record.recorded_at == envelope.occurred_at
    assert record.metadata == {
        "message_id": str(envelope.id),
        "correlation_id": stream,
        "causation_id": str(cause.id),
        "producer": "orders",
    }


def _comparable(value: object) -> object:
    """A prepared value, with psycopg's ``Jsonb`` wrapper (which has no equality) unwrapped."""
    wrapped = getattr(value, "obj", None)
    return ("json", wrapped) if wrapped is not None else value


@pytest.mark.django_db
def test_append_prepares_each_value_as_the_model_fields_do(stream: str) -> None:
    """The append prepares values from the envelopes, without the model: on this database they
    must be exactly what the fields' own preparation gives (core/eventstore/values.py)."""
    events = [paid(stream, "card"), paid(stream, "cash")]
    prepared = values.prepared(stream, "order", events, expected_version=4)

    by_fields: list[object] = [stream, "order"]
    for version, envelope in enumerate(events, start=5):
        record = EventRecord(
            stream_id=stream,
            version=version,
            type=envelope.type,
            schema_version=envelope.version,
            data=envelope.data,
            metadata=values.metadata(envelope),
            message_id=envelope.id,
            recorded_at=envelope.occurred_at,
        )
        fields = {f.name: f for f in EventRecord._meta.concrete_fields}
        by_fields += (fields[n].get_db_prep_save(getattr(record, fields[n].attname), connection) for n in values.OWN)
    assert [_comparable(v) for v in prepared] == [_comparable(v) for v in by_fields]


@pytest.mark.django_db
def test_an_append_without_records_stores_what_one_with_records_returns(stream: str) -> None:
    """``records=False`` (the services' appends) skips building the records, not a column."""
    other = new_stream()
    returned = store.append(other, [paid(other, "card"), paid(other, "cash")], expected_version=0)
    assert store.append(stream, [paid(stream, "card"), paid(stream, "cash")], expected_version=0, records=False) is None

    def columns(record: EventRecord) -> tuple[object, ...]:
        return (record.version, record.type, record.schema_version, record.data["method"], record.stream_type)

    stored = list(EventRecord.objects.filter(stream_id=stream).order_by("version"))
    assert [columns(r) for r in stored] == [columns(r) for r in returned]
    for record, again in zip(returned, EventRecord.objects.filter(stream_id=other).order_by("version"), strict=True):
        assert (record.pk, record.message_id, record.metadata, record.recorded_at, record.data) == (
            again.pk,
            again.message_id,
            again.metadata,
            again.recorded_at,
            again.data,
        )
        assert not record._state.adding, "a returned record is a saved row: saving it again is refused"


@pytest.mark.django_db
def test_a_read_decodes_the_metadata_only_when_it_is_read(stream: str) -> None:
    store.append(stream, [paid(stream)], expected_version=0)
    (read,) = store.read_stream(stream)
    assert isinstance(read.metadata_source, str) and "metadata" not in vars(read), "not decoded by the read"

    (record,) = EventRecord.objects.filter(stream_id=stream)
    assert read.metadata == record.metadata and read.metadata["producer"] == "orders"
    assert read.metadata is read.metadata, "decoded once"


@pytest.mark.django_db
def test_a_read_event_is_the_dataclass_its_constructor_would_build(stream: str) -> None:
    """Reads set an event's fields in one step, past ``__init__``: every field must be set, and
    the event must stay frozen."""
    store.append(stream, [paid(stream)], expected_version=0)
    (read,) = store.read_stream(stream)

    assert set(vars(read)) == {f.name for f in dataclasses.fields(store.StoredEvent)}
    rebuilt = store.StoredEvent(**{f.name: getattr(read, f.name) for f in dataclasses.fields(store.StoredEvent)})
    assert rebuilt == read and repr(rebuilt) == repr(read)
    with pytest.raises(dataclasses.FrozenInstanceError):
        read.version = 2  # type: ignore[misc]


# --- optimistic concurrency ------------------------------------------------------------------


@pytest.mark.django_db
def test_reads_by_stream_are_served_by_the_unique_pair_alone(stored: EventRecord) -> None:
    """stream_id has no index of its own (migration 0008): the unique (stream_id, version) pair
    leads with it, and the immutability triggers survived dropping the old one."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, triggers.TABLE)
    leading = {name: info for name, info in constraints.items() if info["columns"][:1] == ["stream_id"]}
    assert [info["columns"] for info in leading.values()] == [["stream_id", "version"]]
    assert all(info["unique"] for info in leading.values())
    with pytest.raises(DatabaseError, match=triggers.MESSAGE), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {triggers.TABLE} WHERE position = %s", [stored.pk])
    assert EventRecord.objects.filter(pk=stored.pk).exists()


@pytest.mark.django_db
def test_a_stale_expected_version_raises_and_writes_nothing(stream: str) -> None:
    store.append(stream, [paid(stream)], expected_version=0)
    before = EventRecord.objects.count()

    late = [paid(stream, "cash"), paid(stream, "iou")]  # v1 collides; v2 alone would not
    with pytest.raises(ConcurrencyError) as caught:
        store.append(stream, late, expected_version=0)

    assert str(caught.value) == (f"stream {stream}: expected version 0, but it is at 1; another writer appended first")
    assert EventRecord.objects.count() == before
    assert [e.data["method"] for e in store.read_stream(stream)] == ["card"]
    assert not EventRecord.objects.filter(message_id__in=[e.id for e in late]).exists()
    # The store is still usable after the refused append: the writer reloads and tries again.
    (retried,) = store.append(stream, [late[1]], expected_version=1)
    assert retried.version == 2


@pytest.mark.django_db
def test_a_refused_insert_undoes_only_this_append_and_the_transaction_goes_on(stream: str) -> None:
    """The check passes but the INSERT is refused by a unique constraint (here the second event's
    envelope id, already stored): the savepoint around the INSERT undoes this append alone, so
    its first row is not kept and the caller's transaction (this test's) stays usable."""
    stored_envelope = paid(stream)
    store.append(stream, [stored_envelope], expected_version=0)
    other = new_stream()

    with pytest.raises(ConcurrencyError):
        store.append(other, [paid(other, "cash"), stored_envelope], expected_version=0)

    assert store.read_stream(other) == []
    (retried,) = store.append(other, [paid(other, "iou")], expected_version=0)
    assert (retried.version, [e.data["method"] for e in store.read_stream(other)]) == (1, ["iou"])


@pytest.mark.django_db
def test_an_expected_version_ahead_of_the_stream_is_refused(stream: str) -> None:
    store.append(stream, [paid(stream)], expected_version=0)
    with contextlib.suppress(ConcurrencyError):  # refusing it is the fix; accepting it is the bug
        store.append(stream, [paid(stream, "cash")], expected_version=5)
    assert [e.version for e in store.read_stream(stream)] == [1], "versions must stay 1..n, without gaps"


@pytest.mark.django_db(transaction=True)
def test_two_writers_racing_on_one_version_exactly_one_wins() -> None:
    """Two threads, each with its own database connection, both append after version 1."""
    stream = new_stream()
    store.append(stream, [paid(stream)], expected_version=0)
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def writer(name: str) -> None:
        try:
            barrier.wait(timeout=10)
            (record,) = store.append(stream, [paid(stream, name)], expected_version=1)
            outcomes[name] = record.version
        except ConcurrencyError as exc:
            outcomes[name] = exc
        except Exception as exc:  # noqa: BLE001 - reported below, with the writer's name
            outcomes[name] = repr(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads)

    winners = [name for name, outcome in outcomes.items() if outcome == 2]
    losers = [name for name, outcome in outcomes.items() if isinstance(outcome, ConcurrencyError)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert "expected version 1, but it is at 2" in str(outcomes[losers[0]])
    events = store.read_stream(stream)
    assert [(e.version, e.data["method"]) for e in events] == [(1, "card"), (2, winners[0])]


# --- rows never change: the model ------------------------------------------------------------


@pytest.mark.django_db
def test_saving_an_existing_event_is_refused(stored: EventRecord) -> None:
    stored.data = {**stored.data, "method": "forged"}
    with pytest.raises(ImmutableEventError, match="immutable: saving an existing event is not allowed"):
        stored.save()
    with pytest.raises(ImmutableEventError):
        stored.save(update_fields=["data"])
    assert EventRecord.objects.get(pk=stored.pk).data["method"] == "card"


@pytest.mark.django_db
def test_deleting_an_event_is_refused(stored: EventRecord) -> None:
    with pytest.raises(ImmutableEventError, match="immutable: delete is not allowed; append a new event instead"):
        stored.delete()
    assert EventRecord.objects.filter(pk=stored.pk).exists()


Attempt = Callable[[EventRecord], object]

QUERYSET_WRITES: dict[str, Attempt] = {
    "objects.update": lambda r: EventRecord.objects.update(type="order.forged"),
    "filter().update": lambda r: EventRecord.objects.filter(pk=r.pk).update(data={}),
    "in_stream().update": lambda r: EventRecord.objects.in_stream(r.stream_id).update(version=99),
    "objects.all().delete": lambda r: EventRecord.objects.all().delete(),
    "filter().delete": lambda r: EventRecord.objects.filter(pk=r.pk).delete(),
    "bulk_update": lambda r: EventRecord.objects.bulk_update([r], ["type"]),
    "update_or_create": lambda r: EventRecord.objects.update_or_create(pk=r.pk, defaults={"type": "x.forged"}),
}


@pytest.mark.django_db
@pytest.mark.parametrize("attempt", QUERYSET_WRITES.values(), ids=QUERYSET_WRITES.keys())
def test_queryset_updates_and_deletes_are_refused(stored: EventRecord, attempt: Attempt) -> None:
    before = EventRecord.objects.values().get(pk=stored.pk)
    # bulk_update runs in atomic(savepoint=False): its error marks the test's transaction broken.
    with pytest.raises(ImmutableEventError, match="event store rows are immutable"), transaction.atomic():
        attempt(stored)
    assert EventRecord.objects.values().get(pk=stored.pk) == before


def _forged_copy(stored: EventRecord) -> EventRecord:
    """A fresh instance carrying a stored event's position: Django saves it as an UPDATE."""
    return EventRecord(
        position=stored.position,
        stream_id=stored.stream_id,
        version=stored.version,
        type="order.forged",
        data={},
        message_id=uuid.uuid4(),
    )


@pytest.mark.django_db
def test_a_new_instance_reusing_a_stored_position_cannot_overwrite_it(stored: EventRecord) -> None:
    """Whichever layer refuses it (today the database trigger does, see the xfail below), the
    stored row stays as it was."""
    with pytest.raises((ImmutableEventError, DatabaseError), match="immutable"), transaction.atomic():
        _forged_copy(stored).save()
    assert EventRecord.objects.get(pk=stored.pk).type == "order.paid"


@pytest.mark.django_db
def test_the_model_itself_refuses_a_new_instance_reusing_a_stored_position(stored: EventRecord) -> None:
    with pytest.raises(ImmutableEventError), transaction.atomic():
        _forged_copy(stored).save()


# --- rows never change: the database ---------------------------------------------------------


@pytest.mark.django_db
def test_the_triggers_exist_after_migrations() -> None:
    """Checked before any transactional test runs (pytest-django runs those last), so on SQLite
    these are the triggers the migration installed, not the ones tests/conftest.py reinstalls."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s ORDER BY name",
                [triggers.TABLE],
            )
            assert [row[0] for row in cursor.fetchall()] == ["shop_eventrecord_no_delete", "shop_eventrecord_no_update"]
        else:
            assert connection.vendor == "postgresql"
            cursor.execute(
                "SELECT tgname, tgenabled FROM pg_trigger "
                "WHERE tgrelid = %s::regclass AND NOT tgisinternal ORDER BY tgname",
                [triggers.TABLE],
            )
            assert cursor.fetchall() == [("shop_eventrecord_immutable", "O")]  # O: enabled


RAW_SQL = {
    "UPDATE": f"UPDATE {triggers.TABLE} SET type = 'order.forged' WHERE position = %s",
    "UPDATE data": f"UPDATE {triggers.TABLE} SET data = '{{}}' WHERE position = %s",
    "DELETE": f"DELETE FROM {triggers.TABLE} WHERE position = %s",
}


@pytest.mark.django_db
@pytest.mark.parametrize("sql", RAW_SQL.values(), ids=RAW_SQL.keys())
def test_raw_sql_update_and_delete_are_rejected_by_the_trigger(stored: EventRecord, sql: str) -> None:
    before = EventRecord.objects.values().get(pk=stored.pk)
    # On PostgreSQL the error aborts the transaction: the savepoint rolls back to before it.
    refused = r"event store rows are immutable: (UPDATE|DELETE) refused"
    with pytest.raises(DatabaseError, match=refused), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [stored.pk])
    assert EventRecord.objects.values().get(pk=stored.pk) == before


@pytest.mark.django_db
def test_raw_sql_insert_is_still_allowed(stream: str) -> None:
    """The triggers refuse changes only: appending is how the store grows."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {triggers.TABLE} (stream_id, stream_type, version, type, schema_version, data, "
            "metadata, message_id, recorded_at) VALUES (%s, 'order', 1, 'order.paid', 1, %s, '{}', %s, %s)",
            [
                stream,
                f'{{"order_id": "{stream}", "method": "card", "paid_at": "{WHEN}"}}',
                uuid.uuid4().hex if connection.vendor == "sqlite" else str(uuid.uuid4()),
                datetime.now(UTC),
            ],
        )
    assert [e.data["method"] for e in store.read_stream(stream)] == ["card"]


# --- the same transaction as the order -------------------------------------------------------


@pytest.fixture
def place(catalog: None, recorded: RecordingTransport) -> Callable[[str], Order]:
    def place(mode: str) -> Order:
        ada = Customer.objects.get(email="ada@example.com")
        cup = Product.objects.get(sku="PROD-A")
        return place_order(customer_id=ada.pk, items=[LineRequest(product_id=cup.pk, quantity=2)], mode=mode)

    return place


class Boom(Exception):
    pass


@pytest.fixture
def no_rows_yet(transactional_db: None) -> Iterator[None]:
    assert not EventRecord.objects.exists() and not Order.objects.exists()
    yield


@pytest.mark.django_db(transaction=True)
def test_an_event_mode_order_and_its_event_commit_together(
    place: Callable[[str], Order], recorded: RecordingTransport
) -> None:
    order = place(FlowMode.EVENT)
    (event,) = store.read_stream(str(order.id))
    assert (event.version, event.type, event.schema_version) == (1, "order.placed", 3)
    assert event.data["amount"] == str(order.total)
    order.refresh_from_db()
    assert order.version == 1
    assert recorded.names == ["order.placed"]
    assert EventRecord.objects.get().message_id == recorded.delivered[0].id


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_order_leaves_no_event_and_no_order(
    no_rows_yet: None, place: Callable[[str], Order], recorded: RecordingTransport
) -> None:
    placed: list[Order] = []
    with pytest.raises(Boom), transaction.atomic():
        placed.append(place(FlowMode.EVENT))
        assert EventRecord.objects.filter(stream_id=str(placed[0].id)).count() == 1  # written, not committed
        raise Boom
    assert not Order.objects.exists()
    assert not EventRecord.objects.exists()
    assert recorded.delivered == []  # published only after commit, and there was none


@pytest.mark.django_db(transaction=True)
def test_a_failed_append_rolls_back_the_order_change(place: Callable[[str], Order]) -> None:
    """If the stream moved on (a stale Order.version), the order row is not changed either."""
    order = place(FlowMode.EVENT)
    sneaky = paid(str(order.id), "sneaky")
    store.append(str(order.id), [sneaky], expected_version=1)  # another writer, behind the row's back
    with pytest.raises(ConcurrencyError, match="expected version 1, but it is at 2"):
        cancel_order(order.id)
    order.refresh_from_db()
    assert (order.status, order.version) == (Order.Status.PLACED, 1)
    assert [e.type for e in store.read_stream(str(order.id))] == ["order.placed", "order.paid"]


@pytest.mark.django_db(transaction=True)
def test_command_mode_orders_write_no_events(
    no_rows_yet: None, place: Callable[[str], Order], recorded: RecordingTransport
) -> None:
    order = place(FlowMode.COMMAND)
    pay_order(order.id, method="card")
    cancel_order(order.id)
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert order.version == 0
    assert not EventRecord.objects.exists()
    assert recorded.names[:2] == ["inventory.reserve", "fraud.check"]  # commands were sent, all the same
