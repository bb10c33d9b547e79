"""The comparison suite: the same scenarios in command mode and event mode, on every broker.

The end state must be the same in both modes; what differs is who names whom, who hears of a
failure, and what travelled over the broker. Each test is parametrized over mode × broker
(memory, redis, amqp) by tests/integration/conftest.py, and on RabbitMQ with quorum queues
(``amqp-quorum``, SHOP_QUEUE_TYPE=quorum on a vhost of its own; tests/integration/test_quorum_queues.py).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from analytics.selectors import totals
from core.models import DeadLetter, MessageLog
from inventory.models import Reservation
from messaging.operations import faults
from notifications.models import SentEmail
from orders.models import FailedCommand, Order
from payments.models import Authorization
from tests.integration.conftest import BROKERS
from tests.integration.harness import Flow
from tests.services import AMQP_QUORUM

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

#: The brokers each test runs on (tests/integration/conftest.py parametrizes by it).
LIVE_BROKERS = [*BROKERS, AMQP_QUORUM]

ADA, GRACE, MALLORY = "ada@example.com", "grace@example.com", "mallory@mailinator.com"


def emails(order: Order, template: str) -> int:
    return SentEmail.objects.filter(order_id=order.id, template=template).count()


def sent_by_orders(order: Order) -> list[MessageLog]:
    return list(MessageLog.objects.filter(correlation_id=str(order.id), service="orders", status="sent"))


def test_happy_path_same_end_state(flow: Flow) -> None:
    order = flow.place(ADA, ("PROD-A", 2))
    order = flow.settle(order.id)

    assert order.status == Order.Status.CONFIRMED
    assert flow.stock("PROD-A") == 98
    assert totals() == {"revenue": Decimal("49.98"), "items_sold": Decimal("2")}
    assert emails(order, "order-confirmation") == 1
    assert not FailedCommand.objects.exists() and not DeadLetter.objects.exists()


def test_who_names_whom(flow: Flow) -> None:
    """Command mode: the producer addressed each consumer's queue. Event mode: one exchange."""
    order = flow.settle(flow.place(ADA, ("PROD-A", 1)).id)
    routes = {m.route for m in sent_by_orders(order)}
    placed = [m for m in sent_by_orders(order) if not m.causation_id]
    if flow.mode == "command":
        assert routes == {
            "queue inventory.reserve",
            "queue payment.authorize",
            "queue fraud.check",
            "queue email.send",
            "queue analytics.record",
        }
        assert {m.name for m in placed} == {"inventory.reserve", "fraud.check"}
        assert all(m.kind == "command" for m in sent_by_orders(order))
    else:
        assert routes == {"exchange events"}
        assert [m.name for m in placed] == ["order.placed"]
        handlers = MessageLog.objects.filter(message_id=placed[0].message_id, status="handled")
        # One publish, one copy per subscribing service: the fanout.
        assert sorted(h.service for h in handlers) == ["fraud", "inventory", "payments", "projector"]
        assert sorted(h.route for h in handlers) == [
            "fraud.events",
            "inventory.events",
            "payments.events",
            "projector.events",
        ]


def test_risky_order_is_flagged_and_held(flow: Flow) -> None:
    """Held means holding: stock and payment are secured, but nothing final happens."""
    order = flow.settle(flow.place(MALLORY, ("PROD-C", 1)).id)

    assert order.status == Order.Status.ON_HOLD
    assert order.risk_score == pytest.approx(0.85)
    assert "disposable email" in order.hold_reason
    assert order.authorized_at is not None, "stock and payment secured, waiting for a person"
    assert order.reserved_at is None, "not confirmed"
    assert flow.stock("PROD-C") == 4  # held, but the stock is reserved
    assert Authorization.objects.get(order_id=order.id).status == Authorization.Status.AUTHORIZED
    assert emails(order, "order-confirmation") == 0
    assert totals()["revenue"] == 0
    assert not MessageLog.objects.filter(correlation_id=str(order.id), name="order.confirmed").exists()


def test_held_then_released(flow: Flow) -> None:
    """A person releases the hold: the same end state as an order that was never flagged."""
    order = flow.settle(flow.place(MALLORY, ("PROD-C", 1)).id)
    assert order.status == Order.Status.ON_HOLD

    flow.release(order.id, by="alice")
    order = flow.settle(order.id)

    assert order.status == Order.Status.CONFIRMED
    assert order.reserved_at is not None
    assert (order.reviewed_by, order.cancel_reason) == ("alice", "")
    assert flow.stock("PROD-C") == 4
    assert Authorization.objects.get(order_id=order.id).status == Authorization.Status.AUTHORIZED
    assert emails(order, "order-confirmation") == 1
    assert totals() == {"revenue": order.total, "items_sold": Decimal("1")}
    assert not FailedCommand.objects.exists() and not DeadLetter.objects.exists()


def test_held_then_rejected(flow: Flow) -> None:
    """A person rejects the hold: cancelled, stock back on the shelf, payment voided, customer told."""
    order = flow.settle(flow.place(MALLORY, ("PROD-C", 1)).id)
    assert order.status == Order.Status.ON_HOLD

    flow.reject(order.id, by="alice")
    flow.wait_for("stock released", lambda: flow.stock("PROD-C") == 5)
    order = flow.settle(order.id)

    assert order.status == Order.Status.CANCELLED
    assert order.cancel_reason == "rejected after review by alice"
    assert order.reviewed_by == "alice" and order.reviewed_at is not None
    assert Reservation.objects.get(order_id=order.id).status == Reservation.Status.RELEASED
    assert Authorization.objects.get(order_id=order.id).status == Authorization.Status.VOIDED
    assert emails(order, "order-confirmation") == 0
    assert emails(order, "order-cancelled") == 1
    assert totals()["revenue"] == 0
    assert not FailedCommand.objects.exists() and not DeadLetter.objects.exists()


def test_out_of_stock_cancels_without_confirmation(flow: Flow) -> None:
    order = flow.settle(flow.place(GRACE, ("PROD-E", 2)).id)

    assert order.status == Order.Status.CANCELLED
    assert "out of stock" in order.cancel_reason
    assert flow.stock("PROD-E") == 1
    assert emails(order, "order-confirmation") == 0
    assert emails(order, "order-cancelled") == 1
    assert totals()["revenue"] == 0


def test_cancel_releases_stock(flow: Flow) -> None:
    order = flow.settle(flow.place(ADA, ("PROD-B", 3)).id)
    assert order.status == Order.Status.CONFIRMED and flow.stock("PROD-B") == 47

    flow.cancel(order.id)
    flow.wait_for("stock released", lambda: flow.stock("PROD-B") == 50)
    order = flow.settle(order.id)

    assert order.status == Order.Status.CANCELLED
    assert Reservation.objects.get(order_id=order.id).status == Reservation.Status.RELEASED
    assert emails(order, "order-cancelled") == 1


def test_analytics_failure_isolation(flow: Flow) -> None:
    """Analytics always fails. Inventory and email still complete in both modes; who hears of
    the failure differs: the producer (command mode) or only analytics itself (event mode)."""
    failing = "analytics.record" if flow.mode == "command" else "order.confirmed"
    faults.inject("analytics", failing, error="analytics is down")

    order = flow.settle(flow.place(ADA, ("PROD-A", 1)).id)

    assert order.status == Order.Status.CONFIRMED
    assert flow.stock("PROD-A") == 99
    assert emails(order, "order-confirmation") == 1
    assert totals()["revenue"] == 0
    if flow.mode == "command":
        # The producer asked to be told (on_failure="orders.note_failure") and now owns it.
        failure = FailedCommand.objects.get(order=order)
        assert failure.command == "analytics.record" and "analytics is down" in failure.error
        assert not DeadLetter.objects.exists()
    else:
        # Orders never hears of it: analytics dead-letters its own copy of the event.
        assert not FailedCommand.objects.exists()
        letter = DeadLetter.objects.get()
        assert (letter.consumer, letter.message_type, letter.source) == (
            "analytics",
            "order.confirmed",
            "analytics.events",
        )
        assert "analytics is down" in letter.reason and letter.attempts >= 2
