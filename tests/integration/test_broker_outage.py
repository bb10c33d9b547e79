"""Orders placed while the broker is down, three ways (the lesson of the outbox).

- ``immediate``: publish inside the transaction, like a plain ``.delay()``;
- ``on_commit``: publish after commit, like Celery's ``delay_on_commit``;
- ``outbox``: write the message with the order; a relay publishes it once the broker is back.

For each way it counts the orders accepted, the orders refused, and the messages lost (what the
producer should have published for the accepted orders, minus what the broker holds once it is
back). Nothing is staged: the broker is really stopped. Results are printed for the README.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_py
from kombu import Connection

from catalog.models import Customer, Product
from messaging import bootstrap
from messaging.celery_adapter.transport import CeleryTransport, producer_app
from messaging.kernel.outbound import OutboxDispatch
from orders import services
from orders.models import Order
from tests.integration import brokers
from tests.integration.conftest import purge
from tests.integration.workers import lock_brokers
from tests.services import require_broker

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.django_db(transaction=True)]

ORDERS = 3
WAYS = ["immediate", "on_commit", "outbox"]
#: What placing one order publishes, and the queue we count it in.
PLACEMENT = {"command": ("inventory.reserve", 1), "event": ("inventory.events", 1)}
RESULTS: list[dict[str, Any]] = []


@pytest.fixture(params=["amqp", "redis"])
def stoppable_broker(request: pytest.FixtureRequest) -> Iterator[Any]:
    require_broker(request.param)
    lock = lock_brokers()
    broker = brokers.RabbitMQ() if request.param == "amqp" else brokers.PersistentRedis()
    try:
        broker.prepare()
        yield broker
    finally:
        broker.close()
        os.close(lock)


def queued(url: str, queue_name: str) -> int:
    """Messages waiting in a queue (on Redis a queue is a list; an empty one does not exist)."""
    if url.startswith("redis"):
        return int(redis_py.Redis.from_url(url).llen(queue_name))
    with Connection(url) as conn, conn.channel() as channel:
        return int(channel.queue_declare(queue=queue_name, passive=True).message_count)  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", ["command", "event"])
@pytest.mark.parametrize("way", WAYS)
def test_orders_while_the_broker_is_down(stoppable_broker: Any, catalog: None, mode: str, way: str) -> None:
    url = stoppable_broker.url
    app = producer_app(url)
    app.conf.broker_connection_timeout = 2
    purge(app)  # declares every queue and binding, empty, while the broker is up
    bootstrap.configure(transport=CeleryTransport(app), dispatch=way)
    customer = Customer.objects.get(email="ada@example.com")
    product = Product.objects.get(sku="PROD-D")
    accepted = refused = 0
    try:
        stoppable_broker.stop()
        for _ in range(ORDERS):
            before = Order.objects.count()
            # The broker error surfaces however each way lets it; what counts is what was kept.
            with contextlib.suppress(Exception):
                services.place_order(customer_id=customer.pk, items=[services.LineRequest(product.pk, 1)], mode=mode)
            if Order.objects.count() > before:
                accepted += 1
            else:
                refused += 1
        stoppable_broker.start()
        outbound = bootstrap.bus().outbound
        if isinstance(outbound, OutboxDispatch):
            while outbound.relay.sweep():
                pass
        queue, per_order = PLACEMENT[mode]
        delivered = queued(url, queue)
    finally:
        bootstrap.configure()
        app.close()
    lost = accepted * per_order - delivered
    RESULTS.append(
        {
            "broker": stoppable_broker.__class__.__name__,
            "mode": mode,
            "way": way,
            "accepted": accepted,
            "refused": refused,
            "lost": lost,
        }
    )
    print(f"\n{way:>9} {mode:>7} on {url.split('://')[0]}: accepted {accepted}, refused {refused}, lost {lost}")

    assert accepted + refused == ORDERS
    if way == "outbox":
        assert (accepted, refused, lost) == (ORDERS, 0, 0), "the outbox accepts every order and loses nothing"
    elif way == "immediate":
        assert (accepted, lost) == (0, 0), "publishing inside the transaction refuses every order"
    else:
        assert (accepted, lost) == (ORDERS, ORDERS * per_order), "delay_on_commit accepts and loses them"
