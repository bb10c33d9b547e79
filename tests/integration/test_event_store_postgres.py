"""Why appends to the event store are serialized on PostgreSQL (ARCHITECTURE.md §5).

A position comes from an identity column when the row is inserted, but the row becomes visible
when its transaction commits. Two transactions can commit in the opposite order to their
positions. A reader that reads ``position > mark`` and moves its mark to the highest position
seen then steps over the earlier position before it is visible, and never reads it.

The first test shows the skip with raw INSERTs that bypass ``store.append``; the second runs
the same interleaving through ``store.append``, whose advisory lock makes the second writer wait
until the first commits, so positions become visible in order. SQLite has one writer: no gap.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable

import pytest
from django.db import connection, transaction

from core.eventstore import store
from core.models import EventRecord
from messaging.kernel.envelope import Envelope
from messaging.kernel.names import Kind

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.db_engine,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="commit order vs position order is PostgreSQL's"),
]

#: Every wait is bounded: a broken lock fails the test instead of hanging it.
TIMEOUT = 10.0


class Writer(threading.Thread):
    """Runs ``body`` on its own database connection; keeps its result or its error."""

    def __init__(self, name: str, body: Callable[[], int]) -> None:
        super().__init__(name=name, daemon=True)
        self.body = body
        self.result: int | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.body()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread by position()
            self.error = exc
        finally:
            connection.close()

    def position(self) -> int:
        self.join(TIMEOUT)
        assert not self.is_alive(), f"{self.name} did not finish within {TIMEOUT}s"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def wait(event: threading.Event, what: str) -> None:
    if not event.wait(TIMEOUT):
        raise TimeoutError(f"waited {TIMEOUT}s for {what}")


def raw_insert(stream_id: str) -> int:
    """INSERT one event the way store.append does, minus the lock. Returns its position."""
    data = json.dumps({"order_id": stream_id, "method": "card"})
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {EventRecord._meta.db_table} "
            "(stream_id, stream_type, version, type, schema_version, data, metadata, message_id, recorded_at) "
            "VALUES (%s, 'order', 1, 'order.paid', 1, %s::jsonb, '{}'::jsonb, %s, now()) RETURNING position",
            [stream_id, data, uuid.uuid4()],
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def envelope(stream_id: str) -> Envelope:
    return Envelope(
        kind=Kind.EVENT,
        type="order.paid",
        correlation_id=stream_id,
        producer="orders",
        data={"order_id": stream_id, "method": "card", "paid_at": "2025-03-15T10:01:00+00:00"},
    )


def read_after(mark: int) -> list[int]:
    """The naive reader: everything committed above its mark, by position."""
    return [event.position for event in store.read_all(after_position=mark)]


def waiting_for_the_append_lock() -> int:
    """Sessions waiting for store.append's advisory lock right now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND NOT granted",
            [store.APPEND_LOCK_KEY],
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def test_raw_inserts_commit_out_of_position_order_and_a_naive_reader_skips_one() -> None:
    mark = store.head_position()
    t1_inserted, t1_may_commit = threading.Event(), threading.Event()

    def first() -> int:
        with transaction.atomic():
            position = raw_insert(str(uuid.uuid4()))
            t1_inserted.set()
            wait(t1_may_commit, "the reader to move its mark")
        return position

    def second() -> int:
        with transaction.atomic():
            return raw_insert(str(uuid.uuid4()))

    t1, t2 = Writer("T1", first), Writer("T2", second)
    try:
        t1.start()
        wait(t1_inserted, "T1's insert")
        t2.start()
        p2 = t2.position()  # nothing serializes raw inserts: T2 commits while T1 is still open
        seen = read_after(mark)
        mark = max(seen)
        t1_may_commit.set()
        p1 = t1.position()
    finally:
        t1_may_commit.set()
        t1.join(TIMEOUT)
        t2.join(TIMEOUT)

    assert p1 < p2, "T1 took its position first"
    assert seen == [p2], "when the reader looked, only the later position was visible"
    assert mark == p2
    assert read_after(mark) == [], "p1 is committed now, but below the mark: the reader never sees it"
    assert p1 in read_after(0), "the event is in the store all the same"


def test_store_append_makes_the_second_writer_wait_so_a_reader_never_skips() -> None:
    mark = store.head_position()
    t1_appended, t1_may_commit, t2_started, t2_appended = (threading.Event() for _ in range(4))

    def first() -> int:
        with transaction.atomic():
            (record,) = store.append(str(uuid.uuid4()), [envelope(str(uuid.uuid4()))], expected_version=0)
            t1_appended.set()
            wait(t1_may_commit, "the test to let T1 commit")
        return record.position

    def second() -> int:
        t2_started.set()
        with transaction.atomic():
            (record,) = store.append(str(uuid.uuid4()), [envelope(str(uuid.uuid4()))], expected_version=0)
            t2_appended.set()
        return record.position

    t1, t2 = Writer("T1", first), Writer("T2", second)
    seen: list[int] = []

    def read() -> None:
        nonlocal mark
        new = read_after(mark)
        seen.extend(new)
        mark = max([mark, *new])

    try:
        t1.start()
        wait(t1_appended, "T1's append")
        t2.start()
        wait(t2_started, "T2 to start")
        deadline = time.monotonic() + TIMEOUT
        while waiting_for_the_append_lock() == 0:
            assert time.monotonic() < deadline, "T2 never queued for the append lock"
            time.sleep(0.01)
        assert not t2_appended.is_set(), "T2 appended while T1's append was uncommitted"
        read()  # nothing is committed yet
        assert seen == []
        t1_may_commit.set()
        p1 = t1.position()
        read()  # after T1's commit (T2 may have committed too by now: it reads both, in order)
        p2 = t2.position()
        read()  # after T2's commit
    finally:
        t1_may_commit.set()
        t1.join(TIMEOUT)
        t2.join(TIMEOUT)

    assert p1 < p2
    assert seen == [p1, p2], "every position seen, in position order, none skipped"
