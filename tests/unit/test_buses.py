"""The two buses: each refuses the other's messages, validates before sending, and sends after commit."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction

from core.models import MessageLog
from messaging.bootstrap import bus
from messaging.kernel.envelope import Envelope
from messaging.kernel.errors import InvalidMessage, MessageKindError, UnknownMessageType
from messaging.kernel.names import Kind
from tests.fakes import RecordingTransport

ORDER_ID = str(uuid.uuid4())
RESERVE = {"order_id": ORDER_ID, "items": [{"product_id": 1, "quantity": 2}]}
CANCELLED = {"order_id": ORDER_ID, "user_id": 1, "reason": "changed my mind", "cancelled_at": "2025-01-01T00:00:00Z"}

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db_engine]


def test_sending_an_event_as_a_command_says_to_publish_it(recorded: RecordingTransport) -> None:
    with pytest.raises(MessageKindError, match=r"'order.placed' is an event.*bus\.events\.publish\(\)"):
        bus().commands.send("order.placed", {}, producer="orders", correlation_id=ORDER_ID)
    assert recorded.delivered == []


def test_publishing_a_command_as_an_event_says_to_send_it(recorded: RecordingTransport) -> None:
    with pytest.raises(MessageKindError, match=r"'inventory.reserve' is a command.*bus\.commands\.send\(\)"):
        bus().events.publish("inventory.reserve", RESERVE, producer="orders", correlation_id=ORDER_ID)
    assert recorded.delivered == []


def test_unknown_names_are_refused_by_both_buses(recorded: RecordingTransport) -> None:
    with pytest.raises(UnknownMessageType):
        bus().commands.send("inventory.teleport", {}, producer="orders", correlation_id=ORDER_ID)
    with pytest.raises(UnknownMessageType):
        bus().events.publish("order.teleported", {}, producer="orders", correlation_id=ORDER_ID)
    assert recorded.delivered == []


@pytest.mark.parametrize(
    ("send", "field"),
    [
        (
            lambda: bus().commands.send(
                "inventory.reserve",
                {"order_id": ORDER_ID, "items": [{"product_id": 1, "quantity": 0}]},
                producer="orders",
                correlation_id=ORDER_ID,
            ),
            "data.items.0.quantity",
        ),
        (
            lambda: bus().events.publish(
                "order.cancelled", {**CANCELLED, "user_id": 0}, producer="orders", correlation_id=ORDER_ID
            ),
            "data.user_id",
        ),
    ],
)
def test_a_bad_payload_raises_before_anything_is_delivered(
    recorded: RecordingTransport, send: Callable[[], object], field: str
) -> None:
    with transaction.atomic(), pytest.raises(InvalidMessage, match=re.escape(field)):
        send()
    assert recorded.delivered == []
    assert not MessageLog.objects.exists()


def test_a_message_needs_a_correlation(recorded: RecordingTransport) -> None:
    with pytest.raises(ValueError, match="correlation_id"):
        bus().commands.send("inventory.release", {"order_id": ORDER_ID}, producer="orders")
    assert recorded.delivered == []


def test_caused_by_sets_correlation_and_causation(recorded: RecordingTransport) -> None:
    cause = Envelope(kind=Kind.EVENT, type="order.cancelled", correlation_id="corr-1", producer="orders", data={})
    sent = bus().commands.send("inventory.release", {"order_id": ORDER_ID}, producer="orders", caused_by=cause)
    published = bus().events.publish("order.cancelled", CANCELLED, producer="inventory", caused_by=cause)
    for envelope in (sent, published):
        assert envelope.correlation_id == "corr-1"
        assert envelope.causation_id == str(cause.id)
        assert envelope.id != cause.id
    assert recorded.delivered == [sent, published]


def test_a_root_message_has_its_correlation_and_no_causation(recorded: RecordingTransport) -> None:
    sent = bus().commands.send("inventory.release", {"order_id": ORDER_ID}, producer="orders", correlation_id="c-9")
    assert sent.correlation_id == "c-9"
    assert sent.causation_id is None
    assert sent.kind is Kind.COMMAND
    assert sent.producer == "orders"


def test_data_is_sent_in_its_validated_json_form(recorded: RecordingTransport) -> None:
    sent = bus().commands.send(
        "analytics.record",
        {"order_id": ORDER_ID, "revenue": "12.50", "items_sold": 3},
        producer="orders",
        correlation_id=ORDER_ID,
    )
    assert sent.data == {"order_id": ORDER_ID, "revenue": "12.50", "items_sold": 3}


def test_messages_are_delivered_only_after_commit(recorded: RecordingTransport) -> None:
    with transaction.atomic():
        bus().commands.send("inventory.reserve", RESERVE, producer="orders", correlation_id=ORDER_ID)
        bus().events.publish("order.cancelled", CANCELLED, producer="orders", correlation_id=ORDER_ID)
        assert recorded.delivered == []
        assert not MessageLog.objects.exists()
    assert recorded.names == ["inventory.reserve", "order.cancelled"]
    sent = MessageLog.objects.filter(status=MessageLog.Status.SENT)
    assert sorted(sent.values_list("name", flat=True)) == ["inventory.reserve", "order.cancelled"]
    assert set(sent.values_list("route", flat=True)) == {"recorded"}


def test_nested_savepoints_wait_for_the_outer_commit(recorded: RecordingTransport) -> None:
    with transaction.atomic():
        with transaction.atomic():
            bus().commands.send("inventory.reserve", RESERVE, producer="orders", correlation_id=ORDER_ID)
        assert recorded.delivered == []
    assert recorded.names == ["inventory.reserve"]


def test_nothing_is_delivered_on_rollback(recorded: RecordingTransport) -> None:
    with pytest.raises(RuntimeError, match="boom"), transaction.atomic():
        bus().commands.send("inventory.reserve", RESERVE, producer="orders", correlation_id=ORDER_ID)
        bus().events.publish("order.cancelled", CANCELLED, producer="orders", correlation_id=ORDER_ID)
        raise RuntimeError("boom")
    assert recorded.delivered == []
    assert not MessageLog.objects.exists()
    # ... and nothing turns up later either: the next commit sends only its own message.
    with transaction.atomic():
        bus().commands.send("inventory.release", {"order_id": ORDER_ID}, producer="orders", correlation_id=ORDER_ID)
    assert recorded.names == ["inventory.release"]


def test_a_rolled_back_savepoint_drops_its_messages_only(recorded: RecordingTransport) -> None:
    with transaction.atomic():
        bus().commands.send("inventory.release", {"order_id": ORDER_ID}, producer="orders", correlation_id=ORDER_ID)
        with pytest.raises(RuntimeError), transaction.atomic():
            bus().commands.send("inventory.reserve", RESERVE, producer="orders", correlation_id=ORDER_ID)
            raise RuntimeError("inner")
    assert recorded.names == ["inventory.release"]


def test_reply_names_become_the_return_address(recorded: RecordingTransport) -> None:
    sent = bus().commands.send(
        "inventory.reserve",
        RESERVE,
        producer="orders",
        correlation_id=ORDER_ID,
        on_success="orders.advance_saga",
        on_failure="orders.note_failure",
    )
    assert sent.reply_to is not None
    assert (sent.reply_to.on_success, sent.reply_to.on_failure) == ("orders.advance_saga", "orders.note_failure")
    assert recorded.delivered[0].reply_to == sent.reply_to


def test_no_reply_names_means_no_return_address(recorded: RecordingTransport) -> None:
    sent = bus().commands.send("inventory.reserve", RESERVE, producer="orders", correlation_id=ORDER_ID)
    assert sent.reply_to is None


@pytest.mark.parametrize(
    ("replies", "error"),
    [
        ({"on_success": "order.confirmed"}, MessageKindError),
        ({"on_failure": "order.cancelled"}, MessageKindError),
        ({"on_success": "orders.celebrate"}, UnknownMessageType),
        ({"on_failure": "nonsense"}, UnknownMessageType),
    ],
)
def test_reply_names_must_be_registered_commands(
    recorded: RecordingTransport, replies: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        bus().commands.send("inventory.reserve", RESERVE, producer="orders", correlation_id=ORDER_ID, **replies)
    assert recorded.delivered == []
