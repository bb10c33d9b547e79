"""Why the app does not use kombu's fanout exchange on Redis, and what it does instead.

Runs against the real Redis, on a database of its own so no worker is listening.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_py
from kombu import Connection, Exchange, Queue
from kombu.common import ignore_errors

from messaging import bootstrap
from messaging.celery_adapter.topology import service_queue
from messaging.celery_adapter.transport import CeleryTransport, producer_app
from tests.services import REDIS_URL, require_broker

pytestmark = [pytest.mark.integration, pytest.mark.real_brokers]

SERVICES = ["inventory", "analytics", "fraud"]


@pytest.fixture
def redis_url() -> Iterator[str]:
    require_broker("redis")
    url = REDIS_URL.rsplit("/", 1)[0] + "/10"
    client = redis_py.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


def drain(conn: Connection, queue: Queue) -> int:
    count = 0
    with conn.channel() as channel:
        bound = queue(channel)
        while (message := bound.get(no_ack=True)) is not None:
            assert message.payload is not None
            count += 1
    return count


def test_plain_kombu_fanout_loses_events_for_offline_subscribers(redis_url: str) -> None:
    exchange = Exchange("plain-fanout", type="fanout", durable=True)
    queues = [Queue(f"plain.{s}", exchange=exchange, durable=True) for s in SERVICES]
    with Connection(redis_url) as conn:
        with conn.channel() as channel:
            for queue in queues:
                queue(channel).declare()  # bound, but nobody is consuming right now
        with conn.Producer() as producer:
            for n in range(5):
                producer.publish({"n": n}, exchange=exchange, routing_key="", serializer="json", declare=[exchange])
        delivered = {q.name: drain(conn, q) for q in queues}
    assert delivered == {f"plain.{s}": 0 for s in SERVICES}, "kombu fanout on Redis is PUBLISH: offline = lost"


@pytest.mark.django_db(transaction=True)
def test_the_app_bus_keeps_a_durable_copy_per_service(redis_url: str) -> None:
    transport = "messaging.celery_adapter.redis_transport:Transport"
    with Connection(redis_url, transport=transport) as conn, conn.channel() as channel:
        for service in SERVICES:
            service_queue(service, redis_url)(channel).declare()  # what each subscriber's worker does
    app = producer_app(redis_url)
    bootstrap.configure(transport=CeleryTransport(app))
    try:
        for _ in range(5):
            bootstrap.bus().events.publish(
                "order.cancelled",
                {
                    "order_id": "00000000-0000-0000-0000-000000000001",
                    "user_id": 1,
                    "reason": "test",
                    "cancelled_at": "2025-03-15T14:30:00Z",
                },
                producer="orders",
                correlation_id="00000000-0000-0000-0000-000000000001",
            )
    finally:
        bootstrap.configure()
        app.close()
    with Connection(redis_url) as conn:
        delivered = {s: drain(conn, service_queue(s, redis_url)) for s in SERVICES}
    assert delivered == dict.fromkeys(SERVICES, 5)


@pytest.mark.parametrize(
    ("transport", "copy_survives"),
    [("redis", False), ("messaging.celery_adapter.redis_transport:Transport", True)],
    ids=["kombu-redis", "app-transport"],
)
def test_one_services_ack_does_not_drop_anothers_unacked_copy(
    redis_url: str, transport: str, copy_survives: bool
) -> None:
    """Two services hold their copies of one event. B acks; A's worker dies before acking.

    Stock kombu gives both copies one delivery tag and one 'unacked' record, so B's ack
    deletes A's record and A's copy is never restored: at-most-once. The app's transport gives
    each copy its own tag and restores it to its own queue only.
    """
    exchange = Exchange("events", type="topic", durable=True)
    a, b = (Queue(f"{s}.events", exchange=exchange, routing_key="#", durable=True) for s in ("svc_a", "svc_b"))
    with Connection(redis_url, transport=transport) as conn:
        with conn.channel() as channel:
            a(channel).declare()
            b(channel).declare()
        with conn.Producer() as producer:
            producer.publish({"type": "order.placed"}, exchange=exchange, routing_key="order.placed", serializer="json")
        channel_a, channel_b = conn.channel(), conn.channel()
        held_by_a = a(channel_a).get()
        held_by_b = b(channel_b).get()
        assert held_by_a is not None and held_by_b is not None
        held_by_b.ack()
        channel_a.close()  # type: ignore[attr-defined]  # A dies without acking: kombu restores what it held
        channel_b.close()  # type: ignore[attr-defined]
        left = {"svc_a": drain(conn, a), "svc_b": drain(conn, b)}
    assert left == {"svc_a": 1 if copy_survives else 0, "svc_b": 0}


def test_closing_a_channel_after_the_connection_is_gone_is_a_connection_error(redis_url: str) -> None:
    """When Redis restarts, Celery closes the connection first and the channel after it; the
    channel's close then restores unacknowledged messages through a new client. kombu failed
    there with AttributeError, which killed the worker ("Unrecoverable error"); the app's
    transport turns it into a connection error, which Celery ignores before reconnecting."""
    conn = Connection(redis_url, transport="messaging.celery_adapter.redis_transport:Transport")
    channel: Any = conn.channel()
    queue = Queue("closing.check", Exchange("closing.check", type="direct"), routing_key="closing.check")
    with conn.Producer(channel) as producer:
        producer.publish({"n": 1}, exchange=queue.exchange, routing_key="closing.check", declare=[queue])
    message = queue(channel).get(no_ack=False)  # taken and not acknowledged: in the unacked hash
    assert message is not None

    conn.transport.client = None  # what kombu's Connection._close leaves before channels close
    with pytest.raises(redis_py.exceptions.ConnectionError):
        channel._connparams()
    ignore_errors(conn, channel.close)  # raised AttributeError before; now ignored like a lost connection

    # Nothing was lost: the message is still held as unacknowledged, for the visibility timeout.
    assert redis_py.Redis.from_url(redis_url).hlen("unacked") == 1
