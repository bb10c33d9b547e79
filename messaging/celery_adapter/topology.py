"""Broker topology: the ``events`` exchange and each subscribing service's durable queue.

On RabbitMQ and ``memory://`` the exchange is a real fanout exchange. On Redis, kombu
implements fanout with PUBLISH/PSUBSCRIBE, which drops every event published while a
subscriber is offline, so there we use a topic exchange bound with ``#``: kombu keeps the
bindings in Redis and pushes a durable copy into each bound queue's list. Either way the
producer publishes once and names no consumer.
"""

from __future__ import annotations

from kombu import Exchange, Queue

from messaging.celery_adapter.settings import broker_scheme

EVENTS_EXCHANGE = "events"


def events_exchange_type(broker_url: str) -> str:
    return "topic" if broker_scheme(broker_url) in {"redis", "rediss"} else "fanout"


def events_exchange(broker_url: str) -> Exchange:
    return Exchange(EVENTS_EXCHANGE, type=events_exchange_type(broker_url), durable=True)


def service_queue_name(service: str) -> str:
    return f"{service}.events"


def service_queue(service: str, broker_url: str) -> Queue:
    """The durable queue one subscribing service owns: all its workers compete on it."""
    exchange = events_exchange(broker_url)
    routing_key = "#" if exchange.type == "topic" else ""
    return Queue(service_queue_name(service), exchange=exchange, routing_key=routing_key, durable=True)
