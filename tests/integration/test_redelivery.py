"""The relay's redelivery against the real brokers: a message the broker accepted and then lost
is re-sent to each consumer that never handled it, and only once that consumer's queue is empty.

This is the broker-facing half of tests/unit/test_redelivery.py. It matters because the brokers
disagree on what an empty queue is: RabbitMQ keeps the queue, kombu's Redis transport deletes the
list. A passive declare of a drained Redis queue therefore fails, and the relay once read that
failure as "busy" and never re-sent anything on Redis (a fault-tier run lost one event that way).

No worker consumes here (a Redis database and a RabbitMQ vhost of their own), so the copies stay
in the queues for the test to read.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
import redis as redis_py
from celery import Celery

from core.models import OutboxMessage
from messaging.celery_adapter.topology import service_queue_name
from messaging.celery_adapter.transport import producer_app
from messaging.kernel import subscriptions
from messaging.kernel.routing import command_queues
from messaging.operations.redelivery import redeliver_overdue
from tests.integration import brokers
from tests.integration.conftest import purge
from tests.lost_messages import place_and_lose, take_ready
from tests.services import REDIS_URL, in_ci, require_broker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.real_brokers]


@pytest.fixture(params=["redis", "amqp"])
def quiet_app(request: pytest.FixtureRequest) -> Iterator[Celery]:
    """A producer app on a broker nobody consumes from, with the app's queues declared and empty
    (on Redis, empty means the lists do not exist)."""
    require_broker(request.param)
    if request.param == "redis":
        url = REDIS_URL.rsplit("/", 1)[0] + "/11"
        redis_py.Redis.from_url(url).flushdb()
    else:
        if shutil.which("rabbitmqctl") is None:
            message = "rabbitmqctl is not installed: cannot create a vhost of the test's own"
            pytest.fail(message) if in_ci() else pytest.skip(message)
        vhost = brokers.RabbitMQ(vhost="shop_redelivery")
        vhost.prepare()
        url = vhost.url
    app = producer_app(url)
    purge(app)
    try:
        yield app
    finally:
        purge(app)
        app.close()


def test_a_lost_event_is_resent_to_each_subscribers_empty_queue(quiet_app: Celery, catalog: None) -> None:
    order = place_and_lose("event")
    placed = OutboxMessage.objects.get(name="order.placed", envelope__correlation_id=str(order.id))
    subscribers = subscriptions.table()["order.placed"]

    copies = redeliver_overdue(quiet_app, after=0)

    assert sorted(c.service for c in copies if c.message_id == str(placed.pk)) == subscribers
    for service in subscribers:
        resent = take_ready(quiet_app, service_queue_name(service))
        assert [m.headers["message_id"] for m in resent] == [str(placed.pk)], service
    assert OutboxMessage.objects.get(pk=placed.pk).redeliveries == 1


def test_a_subscriber_whose_queue_still_holds_messages_gets_no_copy(quiet_app: Celery, catalog: None) -> None:
    order = place_and_lose("event")
    placed = OutboxMessage.objects.get(name="order.placed", envelope__correlation_id=str(order.id))
    busy = service_queue_name("fraud")
    with quiet_app.producer_or_acquire() as producer:
        producer.publish({"waiting": True}, exchange="", routing_key=busy, serializer="json")

    copies = redeliver_overdue(quiet_app, after=0)

    assert {c.service for c in copies} == set(subscriptions.table()["order.placed"]) - {"fraud"}
    assert [m.payload for m in take_ready(quiet_app, busy)] == [{"waiting": True}], "no copy joined the queue"
    assert [m.headers["message_id"] for m in take_ready(quiet_app, service_queue_name("inventory"))] == [str(placed.pk)]


def test_a_lost_command_is_resent_to_its_one_queue_with_its_task_id(quiet_app: Celery, catalog: None) -> None:
    order = place_and_lose("command")
    reserve = OutboxMessage.objects.get(name="inventory.reserve", envelope__correlation_id=str(order.id))

    copies = redeliver_overdue(quiet_app, after=0)

    assert [c.queue for c in copies if c.message_id == str(reserve.pk)] == [command_queues()["inventory.reserve"]]
    resent = take_ready(quiet_app, command_queues()["inventory.reserve"])
    assert [m.headers["id"] for m in resent] == [str(reserve.pk)]
