"""Redelivery closes the loop that the outbox leaves open: a message the broker accepted and then
lost (kombu's Redis BRPOP window) is re-sent to each consumer that never handled it, to that
consumer's queue only, and applied once.

The loss is staged at the composition root (tests/lost_messages.py). These tests run on the
in-process broker; tests/integration/test_redelivery.py runs the broker-facing part on Redis and
RabbitMQ.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from celery import Celery
from kombu import Queue

from core.models import OutboxMessage
from messaging import bootstrap
from messaging.celery_adapter.topology import service_queue_name
from messaging.kernel import subscriptions
from messaging.kernel.routing import command_queues
from messaging.operations.redelivery import redeliver_overdue
from orders.models import Order
from tests.lost_messages import handled_by, place_and_lose, take_ready

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db_engine]


@pytest.fixture
def app() -> Iterator[Celery]:
    from shop.celery import app

    queues = [service_queue_name(s) for s in subscriptions.services()] + sorted(set(command_queues().values()))
    purge(app, queues)
    yield app
    purge(app, queues)
    bootstrap.configure()


def purge(app: Celery, queues: list[str]) -> None:
    with app.connection_for_write() as conn:
        for name in queues:
            Queue(name)(conn.default_channel).purge()


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def test_a_lost_event_is_redelivered_to_each_subscriber_and_applied_once(app: Celery, catalog: None) -> None:
    from messaging.celery_adapter.embedded import embedded_worker

    order = place_and_lose("event")
    placed = OutboxMessage.objects.get(name="order.placed", envelope__correlation_id=str(order.id))
    assert placed.sent_at is not None, "the outbox counts it as sent: the broker had accepted it"
    subscribers = subscriptions.table()["order.placed"]

    with embedded_worker(app):
        copies = redeliver_overdue(app, after=0)
        assert sorted(c.service for c in copies) == subscribers
        assert {c.queue for c in copies} == {service_queue_name(s) for s in subscribers}
        wait_for("the order to be confirmed", lambda: Order.objects.get(pk=order.pk).status == Order.Status.CONFIRMED)
        wait_for(
            "every subscriber to log order.placed",
            lambda: set(handled_by(placed.pk)) == set(subscribers),
        )

    assert sorted(handled_by(placed.pk)) == subscribers, "each subscriber applied it exactly once"
    row = OutboxMessage.objects.get(pk=placed.pk)
    assert (row.redeliveries, row.settled_at) == (1, None)
    redeliver_overdue(app, after=3600)  # nothing is due; the check still settles what all consumers handled
    assert OutboxMessage.objects.get(pk=placed.pk).settled_at is not None, "handled by all: settled"


def test_nothing_is_redelivered_early_or_to_a_consumer_that_has_not_caught_up(app: Celery, catalog: None) -> None:
    order = place_and_lose("event")
    placed = OutboxMessage.objects.get(name="order.placed", envelope__correlation_id=str(order.id))

    assert redeliver_overdue(app, after=3600) == [], "within the grace period nothing is re-sent"

    busy = service_queue_name("fraud")
    with app.connection_for_write() as conn, conn.Producer() as producer:
        producer.publish({"waiting": True}, exchange="", routing_key=busy, serializer="json", declare=[Queue(busy)])
    copies = redeliver_overdue(app, after=0)
    assert "fraud" not in {c.service for c in copies}, "fraud's queue still holds messages: it may be in there"
    assert {c.service for c in copies} == set(subscriptions.table()["order.placed"]) - {"fraud"}
    inventory_copies = take_ready(app, service_queue_name("inventory"))
    assert [m.headers["message_id"] for m in inventory_copies] == [str(placed.pk)], "same id: the inbox knows it"

    assert redeliver_overdue(app, after=3600) == [], "the next copy waits twice as long as the first"
    assert OutboxMessage.objects.get(pk=placed.pk).redeliveries == 1


def test_a_lost_command_is_resent_to_its_one_queue_with_its_task_id(app: Celery, catalog: None) -> None:
    order = place_and_lose("command")
    reserve = OutboxMessage.objects.get(name="inventory.reserve", envelope__correlation_id=str(order.id))

    copies = redeliver_overdue(app, after=0)

    assert [(c.name, c.queue) for c in copies if c.message_id == str(reserve.pk)] == [
        ("inventory.reserve", command_queues()["inventory.reserve"])
    ]
    resent = take_ready(app, command_queues()["inventory.reserve"])
    assert [m.headers["id"] for m in resent] == [str(reserve.pk)]
