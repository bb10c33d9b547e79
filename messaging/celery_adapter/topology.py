"""Broker topology: the ``events`` exchange and each subscribing service's durable queue.

On RabbitMQ and ``memory://`` the exchange is a real fanout exchange. On Redis, kombu
implements fanout with PUBLISH/PSUBSCRIBE, which drops every event published while a
subscriber is offline, so there we use a topic exchange bound with ``#``: kombu keeps the
bindings in Redis and pushes a durable copy into each bound queue's list. Either way the
producer publishes once and names no consumer.

With ``SHOP_QUEUE_TYPE=quorum`` on RabbitMQ the queues here are quorum queues with a delivery limit
and the ``dead-letters`` exchange as their dead-letter exchange (messaging/celery_adapter/queue_types.py).
"""

from __future__ import annotations

from kombu import Exchange, Queue

from messaging.celery_adapter.queue_types import (
    CLASSIC,
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
    QUORUM,
    QUORUM_DELIVERY_LIMIT,
    queue_arguments,
)
from messaging.celery_adapter.settings import broker_scheme

__all__ = [
    "DEAD_LETTER_EXCHANGE",
    "DEAD_LETTER_QUEUE",
    "DEAD_LETTER_QUEUE_MAX_LENGTH",
    "EVENTS_EXCHANGE",
    "dead_letter_exchange",
    "dead_letter_queue",
    "events_exchange",
    "events_exchange_type",
    "service_queue",
    "service_queue_name",
]

EVENTS_EXCHANGE = "events"


def events_exchange_type(broker_url: str) -> str:
    return "topic" if broker_scheme(broker_url) in {"redis", "rediss"} else "fanout"


def events_exchange(broker_url: str) -> Exchange:
    return Exchange(EVENTS_EXCHANGE, type=events_exchange_type(broker_url), durable=True)


def service_queue_name(service: str) -> str:
    return f"{service}.events"


def service_queue(service: str, broker_url: str, queue_type: str = CLASSIC) -> Queue:
    """The durable queue one subscribing service owns: all its workers compete on it.

    ``queue_type`` is the app's (``queue_types.queue_type_of(app)``); it only matters on RabbitMQ."""
    exchange = events_exchange(broker_url)
    routing_key = "#" if exchange.type == "topic" else ""
    arguments = queue_arguments(queue_type) if broker_scheme(broker_url) in {"amqp", "pyamqp"} else None
    return Queue(
        service_queue_name(service), exchange=exchange, routing_key=routing_key, durable=True, queue_arguments=arguments
    )


# --- dead letters: RabbitMQ's copy (messaging/operations/deadletters.py) -----------------------


def dead_letter_exchange() -> Exchange:
    return Exchange(DEAD_LETTER_EXCHANGE, type="fanout", durable=True)


#: The mirror keeps the newest copies only (RabbitMQ drops the oldest beyond this): the table is
#: the record, and a queue nobody drains must not grow without bound.
DEAD_LETTER_QUEUE_MAX_LENGTH = 10_000


def dead_letter_queue(queue_type: str = CLASSIC) -> Queue:
    """The ``dead-letters`` queue (RabbitMQ only). As a quorum queue it has the delivery limit but
    no dead-letter exchange of its own: it is where dead letters end."""
    arguments: dict[str, object] = {"x-max-length": DEAD_LETTER_QUEUE_MAX_LENGTH}
    if queue_type == QUORUM:
        arguments |= {"x-queue-type": QUORUM, "x-delivery-limit": QUORUM_DELIVERY_LIMIT}
    return Queue(
        DEAD_LETTER_QUEUE, exchange=dead_letter_exchange(), routing_key="", durable=True, queue_arguments=arguments
    )
