"""One order, two modes: what each mode hands to the broker when an order is placed or cancelled."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest

from catalog.models import Customer, Product
from core.models import MessageLog
from messaging.kernel import contracts
from messaging.kernel.envelope import Envelope
from messaging.kernel.names import Kind
from orders.errors import OrderError
from orders.models import FlowMode, Order
from orders.services import LineRequest, cancel_order, place_order
from tests.fakes import RecordingTransport

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db_engine]

ENVELOPE_FIELDS = {"id", "type", "version", "occurred_at", "correlation_id", "causation_id", "producer", "data"}


def _place(mode: str) -> Order:
    ada = Customer.objects.get(email="ada@example.com")
    cup = Product.objects.get(sku="PROD-A")
    kettle = Product.objects.get(sku="PROD-B")
    return place_order(
        customer_id=ada.pk,
        items=[LineRequest(product_id=cup.pk, quantity=2), LineRequest(product_id=kettle.pk, quantity=1)],
        mode=mode,
    )


def test_command_mode_sends_exactly_reserve_and_fraud_check(recorded: RecordingTransport, catalog: None) -> None:
    order = _place(FlowMode.COMMAND)
    assert recorded.names == ["inventory.reserve", "fraud.check"]
    reserve, check = recorded.delivered
    assert all(e.kind is Kind.COMMAND for e in recorded.delivered)
    assert reserve.reply_to is not None and check.reply_to is not None
    assert (reserve.reply_to.on_success, reserve.reply_to.on_failure) == ("orders.advance_saga", "orders.advance_saga")
    assert (check.reply_to.on_success, check.reply_to.on_failure) == ("orders.review_risk", "orders.note_failure")
    assert reserve.data["order_id"] == str(order.id)
    assert sorted((i["product_id"], i["quantity"]) for i in reserve.data["items"]) == sorted(
        (line.product_id, line.quantity) for line in order.lines.all()
    )
    assert check.data["user_id"] == order.customer_id
    assert check.data["total"] == str(order.total)


def test_event_mode_publishes_exactly_one_order_placed(recorded: RecordingTransport, catalog: None) -> None:
    order = _place(FlowMode.EVENT)
    assert recorded.names == ["order.placed"]
    (placed,) = recorded.delivered
    assert placed.kind is Kind.EVENT
    assert placed.producer == "orders"
    assert placed.reply_to is None
    assert placed.data["order_id"] == str(order.id)
    assert placed.data["user_id"] == order.customer_id
    assert placed.data["amount"] == str(order.total) == "99.97"
    assert placed.data["currency"] == "EUR" and placed.version == 3
    assert {i["sku"] for i in placed.data["items"]} == {"PROD-A", "PROD-B"}


def test_the_message_log_records_what_was_sent(recorded: RecordingTransport, catalog: None) -> None:
    order = _place(FlowMode.COMMAND)
    rows = MessageLog.objects.filter(correlation_id=str(order.id), status=MessageLog.Status.SENT)
    assert list(rows.values_list("name", "service", "kind")) == [
        ("inventory.reserve", "orders", "command"),
        ("fraud.check", "orders", "command"),
    ]
    assert {str(r.message_id) for r in rows} == {str(e.id) for e in recorded.delivered}


def test_cancel_in_command_mode_sends_release_and_email(recorded: RecordingTransport, catalog: None) -> None:
    order = _place(FlowMode.COMMAND)
    recorded.delivered.clear()
    cancel_order(order.id)
    assert recorded.names == ["inventory.release", "email.send"]
    release, email = recorded.delivered
    assert release.data == {"order_id": str(order.id)}
    assert email.data["to"] == "ada@example.com"
    assert email.data["template"] == "order-cancelled"
    assert all(e.correlation_id == str(order.id) for e in recorded.delivered)
    assert all(e.reply_to is not None and e.reply_to.on_failure == "orders.note_failure" for e in recorded.delivered)


def test_cancel_in_event_mode_publishes_order_cancelled_only(recorded: RecordingTransport, catalog: None) -> None:
    order = _place(FlowMode.EVENT)
    recorded.delivered.clear()
    cancel_order(order.id, reason="changed my mind")
    assert recorded.names == ["order.cancelled"]
    (cancelled,) = recorded.delivered
    assert cancelled.producer == "orders"
    assert cancelled.data["order_id"] == str(order.id)
    assert cancelled.data["reason"] == "changed my mind"
    assert cancelled.correlation_id == str(order.id)


@pytest.mark.parametrize("mode", [FlowMode.COMMAND, FlowMode.EVENT])
def test_nothing_is_sent_when_placing_fails(recorded: RecordingTransport, catalog: None, mode: str) -> None:
    with pytest.raises(OrderError, match="at least one item"):
        place_order(customer_id=Customer.objects.get(email="ada@example.com").pk, items=[], mode=mode)
    assert recorded.delivered == []
    assert not Order.objects.exists()


@pytest.mark.parametrize("mode", [FlowMode.COMMAND, FlowMode.EVENT])
def test_every_envelope_carries_the_metadata(recorded: RecordingTransport, catalog: None, mode: str) -> None:
    order = _place(mode)
    cancel_order(order.id)
    assert recorded.delivered
    for envelope in recorded.delivered:
        assert isinstance(envelope.id, uuid.UUID)
        assert envelope.version == contracts.resolve(envelope.type).version  # the newest schema
        assert isinstance(envelope.occurred_at, datetime) and envelope.occurred_at.tzinfo is not None
        assert envelope.correlation_id == str(order.id)
        assert envelope.causation_id is None  # both are root messages, caused by a request
        assert envelope.producer == "orders"
        assert str(order.id) in json.dumps(envelope.data)
    assert len({e.id for e in recorded.delivered}) == len(recorded.delivered)


@pytest.mark.parametrize("mode", [FlowMode.COMMAND, FlowMode.EVENT])
def test_the_envelope_round_trips_through_json(recorded: RecordingTransport, catalog: None, mode: str) -> None:
    order = _place(mode)
    cancel_order(order.id)
    for envelope in recorded.delivered:
        text = json.dumps(envelope.to_wire())  # plain json: no custom encoder needed
        back = Envelope.from_wire(json.loads(text))
        assert back == envelope
        assert back.to_wire() == envelope.to_wire()
        wire = json.loads(text)
        assert ENVELOPE_FIELDS - {"causation_id"} <= set(wire)
        assert wire["correlation_id"] == str(order.id)
        assert wire["type"] == envelope.type
        assert uuid.UUID(wire["id"]) == envelope.id
        assert datetime.fromisoformat(wire["occurred_at"]) == envelope.occurred_at


@pytest.mark.parametrize("mode", [FlowMode.COMMAND, FlowMode.EVENT])
def test_the_wire_form_has_every_envelope_field(recorded: RecordingTransport, catalog: None, mode: str) -> None:
    _place(mode)
    for envelope in recorded.delivered:
        assert set(envelope.to_wire()) >= ENVELOPE_FIELDS
