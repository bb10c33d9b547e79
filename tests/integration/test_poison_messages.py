"""Poison and malformed messages on real brokers, with the Procfile's real worker processes.

Each message is put straight into ``inventory.events`` (the event consumer bootstep) or the
command queue ``inventory.reserve`` (Celery's consumer, then our task) with plain kombu. Every
one must end as a dead letter with its reason, leave no business row behind, and leave the
inventory worker alive and handling the next good order. Then: a dead letter retried on a real
broker reaches its own consumer only, and on RabbitMQ each dead letter is also copied to the
``dead-letters`` queue.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection

from catalog.models import Product
from core.models import DeadLetter, InboxEntry, MessageLog
from inventory.models import Reservation
from messaging.celery_adapter.transport import producer_app
from messaging.operations import deadletters, faults
from orders.models import Order
from tests import poison
from tests.integration import conftest as integration
from tests.integration.harness import Flow
from tests.services import BROKER_URLS

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REAL_BROKERS = ["redis", "amqp"]
TIMEOUT = 30.0


def connect(broker: str) -> Connection:
    if broker == "redis":
        return Connection(BROKER_URLS[broker], transport="messaging.celery_adapter.redis_transport:Transport")
    return Connection(BROKER_URLS[broker])


def wait_for(what: str, predicate: Any, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def worker_alive(broker: str, service: str) -> bool:
    return integration._groups[broker].processes[service].poll() is None


def good_order_is_handled(broker: str, mode: str) -> None:
    flow = Flow(mode=mode, broker=broker)
    stock = flow.stock("PROD-B")
    order = flow.settle(flow.place("ada@example.com", ("PROD-B", 1)).id)
    assert order.status == Order.Status.CONFIRMED, f"[{mode}/{broker}] the next good order was not handled"
    assert Reservation.objects.filter(order_id=order.id).exists()
    assert flow.stock("PROD-B") == stock - 1


@pytest.mark.parametrize("case", poison.POISONS, ids=lambda c: f"{c.queue}: {c.name}")
@pytest.mark.parametrize("live_broker", REAL_BROKERS, indirect=True)
def test_a_poison_message_is_dead_lettered_and_the_worker_carries_on(
    live_broker: str, catalog: None, case: poison.Poison
) -> None:
    product = Product.objects.get(sku="PROD-A")
    with connect(live_broker) as connection:
        poison.publish_raw(connection, case.queue, case.build(product.pk))

    wait_for(f"a dead letter for {case.name!r}", DeadLetter.objects.exists)
    letter = DeadLetter.objects.get()
    assert (letter.consumer, letter.source) == ("inventory", case.queue)
    assert case.reason in letter.reason, letter.reason
    assert letter.raw, "the raw body is kept"
    assert worker_alive(live_broker, "inventory")
    assert not Reservation.objects.exists()
    assert not InboxEntry.objects.exists()
    assert Product.objects.get(pk=product.pk).stock == product.stock

    good_order_is_handled(live_broker, "event")
    if case.queue == poison.COMMAND_QUEUE:
        good_order_is_handled(live_broker, "command")
    assert worker_alive(live_broker, "inventory")
    # One message, one dead letter: the good order went through the same queue after it, so
    # anything more the poison caused would be here by now.
    assert DeadLetter.objects.count() == 1, list(DeadLetter.objects.values_list("source", "reason"))


@pytest.mark.parametrize("live_broker", REAL_BROKERS, indirect=True)
def test_a_retried_dead_letter_reaches_its_own_consumer_only(live_broker: str, catalog: None) -> None:
    """Analytics gives up on ``order.confirmed``; notifications and the projector handled theirs.
    The retry is put into ``analytics.events`` alone: nobody else sees the message again."""
    faults.inject("analytics", "order.confirmed")
    flow = Flow(mode="event", broker=live_broker)
    order = flow.settle(flow.place("ada@example.com", ("PROD-A", 1)).id)
    letter = DeadLetter.objects.get(consumer="analytics")
    faults.clear()
    message_id = uuid.UUID(letter.message_id)
    before = set(MessageLog.objects.filter(message_id=message_id).values_list("id", flat=True))
    assert MessageLog.objects.filter(message_id=message_id, status="handled").exclude(service="analytics").exists()

    app = producer_app(BROKER_URLS[live_broker])
    try:
        outcome = deadletters.retry(letter, app=app)
    finally:
        app.close()
    assert outcome.retried, outcome.detail

    wait_for("analytics to handle it", InboxEntry.objects.filter(consumer="analytics", message_id=message_id).exists)
    time.sleep(1.5)  # a copy sent to the `events` exchange would reach the others by now
    new = MessageLog.objects.filter(message_id=message_id).exclude(id__in=before)
    assert sorted(new.values_list("service", "status")) == [("analytics", "handled"), ("orders", "sent")], list(
        new.values_list("service", "status", "route")
    )
    assert flow.settle(order.id).status == Order.Status.CONFIRMED


@pytest.fixture
def dead_letter_queue() -> Iterator[Any]:
    with connect("amqp") as connection:
        queue = deadletters.dead_letter_queue()(connection.default_channel)
        queue.declare()
        queue.purge()
        yield queue


@pytest.mark.parametrize("live_broker", ["amqp"], indirect=True)
def test_on_rabbitmq_each_dead_letter_is_also_copied_to_the_dead_letters_queue(
    live_broker: str, catalog: None, dead_letter_queue: Any
) -> None:
    product = Product.objects.get(sku="PROD-A")
    bad = poison.as_json(poison.placed(product.pk, quantity=-3))
    with connect(live_broker) as connection:
        poison.publish_raw(connection, poison.EVENTS_QUEUE, bad)
    wait_for("the dead letter", DeadLetter.objects.exists)
    letter = DeadLetter.objects.get()

    copies: list[Any] = []

    def copied() -> bool:
        message = dead_letter_queue.get(no_ack=True, accept=["json", "text/plain"])
        if message is not None:
            copies.append(message)
        return any(m.headers.get("x-dead-letter-id") == letter.pk for m in copies)

    wait_for("the copy in the dead-letters queue", copied)
    copy = next(m for m in copies if m.headers.get("x-dead-letter-id") == letter.pk)
    assert copy.headers["x-consumer"] == "inventory"
    assert copy.headers["x-source"] == "inventory.events"
    assert "quantity" in copy.headers["x-reason"]
    body = copy.body.decode() if isinstance(copy.body, bytes) else copy.body
    assert body == letter.raw
