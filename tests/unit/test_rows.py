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


# --- the services' statements (docs/benchmarks.md, "Where the limits are") ---------------------


def _summary_fields(**changed: Any) -> dict[str, Any]:
    from decimal import Decimal

    fields: dict[str, Any] = {
        "order_id": uuid.uuid4(),
        "customer_name": "Ada Lovelace",
        "item_count": 2,
        "total": Decimal("24.99"),
        "currency": "EUR",
        "status": "placed",
        "placed_at": datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        "shipped_at": None,
        "flagged": True,
        "risk_score": 0.25,
    }
    return fields | changed


def test_a_select_returns_the_instance_the_orm_does() -> None:
    from core.rows import Select
    from readmodel.models import OrderSummary

    made = OrderSummary.objects.create(**_summary_fields())
    found = Select(OrderSummary, "order_id")(made.order_id)
    orm = OrderSummary.objects.get(order_id=made.order_id)
    assert type(found) is OrderSummary and found.pk == orm.pk
    assert {f.attname: getattr(found, f.attname) for f in OrderSummary._meta.concrete_fields} == {
        f.attname: getattr(orm, f.attname) for f in OrderSummary._meta.concrete_fields
    }
    assert not found._state.adding and found._state.db == orm._state.db
    assert Select(OrderSummary, "order_id")(uuid.uuid4()) is None


def test_an_upsert_writes_the_row_then_overwrites_it() -> None:
    from readmodel.models import OrderSummary

    upsert = Insert(OrderSummary, update_on=("order_id",))
    fields = _summary_fields()
    upsert(**fields)
    pk = OrderSummary.objects.get(order_id=fields["order_id"]).pk
    assert _row(OrderSummary, pk) == fields
    shipped = fields | {"status": "shipped", "shipped_at": datetime(2026, 1, 3, tzinfo=UTC), "flagged": False}
    upsert(**shipped)
    assert OrderSummary.objects.count() == 1
    assert _row(OrderSummary, pk) == shipped


def test_an_update_sets_the_columns_and_the_auto_now_field() -> None:
    from core.rows import Update
    from readmodel.models import ProjectionTracking

    row = ProjectionTracking.objects.create(projection="p", stream_id="s")
    before = row.updated_at
    assert Update(ProjectionTracking, "version", "position")(row.pk, version=3, position=41) == 1
    row.refresh_from_db()
    assert (row.version, row.position, row.projection, row.stream_id) == (3, 41, "p", "s")
    assert row.updated_at > before
    with pytest.raises(TypeError):
        Update(ProjectionTracking, "version", "position")(row.pk, version=4)


def test_exist_each_answers_each_check_in_one_statement() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.models import InjectedFault
    from core.rows import exist_each

    inbox, faults = Exists(InboxEntry, "consumer", "message_id"), Exists(InjectedFault, "service", "message_type")
    message_id = uuid.uuid4()
    InboxEntry.objects.create(consumer="inventory", message_id=message_id, message_type="order.placed")
    InjectedFault.objects.create(service="inventory", message_type="order.paid")
    with CaptureQueriesContext(connection) as queries:
        answers = [
            exist_each((inbox, ("inventory", message_id)), (faults, ("inventory", "order.placed"))),
            exist_each((inbox, ("payments", message_id)), (faults, ("inventory", "order.paid"))),
        ]
    assert answers == [(True, False), (False, True)]
    assert len(queries) == 2
