"""core/rows.py: the prebuilt inserts write exactly the row the ORM would, and the conflict and
existence checks answer as the inbox needs them to."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import transaction

from core.models import InboxEntry, MessageLog, OutboxMessage
from core.rows import Exists, Insert

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db_engine]


def _row(model: type[Any], pk: Any, *skip: str) -> dict[str, Any]:
    values: dict[str, Any] = model.objects.filter(pk=pk).values().get()
    for name in ("id", *skip):
        values.pop(name, None)
    return values


def test_a_log_row_is_the_one_the_orm_writes() -> None:
    fields: dict[str, Any] = {
        "message_id": uuid.uuid4(),
        "name": "order.placed",
        "kind": "event",
        "service": "inventory",
        "route": "inventory.events",
        "status": MessageLog.Status.HANDLED,
        "correlation_id": "c-1",
        "causation_id": "",
        "worker": "host:1",
        "attempts": 2,
        "duration_ms": 1.5,
        "outcome": {"did": ["reserved"], "n": [1, 2]},
    }
    by_orm = MessageLog.objects.create(**fields)
    assert Insert(MessageLog)(**fields) == 1
    ours = MessageLog.objects.exclude(pk=by_orm.pk).get()
    assert _row(MessageLog, ours.pk, "created_at") == _row(MessageLog, by_orm.pk, "created_at")
    assert ours.created_at is not None and ours.error == "" and ours.outcome == fields["outcome"]


def test_an_outbox_row_keeps_its_uuid_envelope_and_defaults() -> None:
    message_id = uuid.uuid4()
    envelope = {"id": str(message_id), "type": "order.placed", "data": {"order_id": 7}}
    later = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    Insert(OutboxMessage)(id=message_id, kind="event", name="order.placed", envelope=envelope, not_before=later)
    row = OutboxMessage.objects.get(pk=message_id)
    assert (row.envelope, row.not_before, row.sent_at, row.attempts, row.last_error) == (envelope, later, None, 0, "")


def test_an_inbox_conflict_writes_nothing_and_says_so() -> None:
    insert, seen = Insert(InboxEntry, skip_conflicts=True), Exists(InboxEntry, "consumer", "message_id")
    message_id = uuid.uuid4()
    assert not seen("inventory", message_id)
    with transaction.atomic():
        assert insert(consumer="inventory", message_id=message_id, message_type="order.placed") == 1
    with transaction.atomic():
        assert insert(consumer="inventory", message_id=message_id, message_type="order.placed") == 0
    assert insert(consumer="fraud", message_id=message_id, message_type="order.placed") == 1
    assert seen("inventory", message_id) and seen("fraud", message_id) and not seen("analytics", message_id)
    assert InboxEntry.objects.filter(message_id=message_id).count() == 2


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(TypeError, match="no field"):
        Insert(InboxEntry)(consumer="x", message_id=uuid.uuid4(), message_type="t", colour="red")
