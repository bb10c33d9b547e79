"""How an envelope reaches the broker: Celery tasks for commands, one publish for events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from celery import Celery

from messaging.celery_adapter.queue_types import AMQP_CLASS, CLASSIC
from messaging.celery_adapter.settings import celery_settings_for
from messaging.celery_adapter.topology import EVENTS_EXCHANGE, events_exchange
from messaging.kernel.envelope import Envelope
from messaging.kernel.names import Kind
from messaging.kernel.routing import queue_for

PUBLISH_RETRY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2}


def route_command(name: str, *_: Any, **__: Any) -> dict[str, str] | None:
    """Celery's router (``task_routes``): a command's queue follows from its name
    (messaging/kernel/routing.py); anything else goes to Celery's default queue."""
    queue = queue_for(name)
    return None if queue is None else {"queue": queue}


class CeleryTransport:
    """The kernel's ``Transport`` (messaging/kernel/outbound.py) on a Celery app."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def deliver(self, envelope: Envelope) -> str:
        if envelope.kind is Kind.COMMAND:
            return self._send_command(envelope)
        return self._publish_event(envelope)

    def _send_command(self, envelope: Envelope) -> str:
        # The queue comes from the router (``route_command``), by the command's name.
        self.app.send_task(
            envelope.type,
            args=[envelope.to_wire()],
            task_id=str(envelope.id),
            eta=_future(envelope.not_before),
            retry=True,
            retry_policy=PUBLISH_RETRY,
        )
        route = self.app.amqp.router.route({}, envelope.type)
        return f"queue {route['queue'].name}"

    def _publish_event(self, envelope: Envelope) -> str:
        exchange = events_exchange(self.app.conf.broker_url)
        with self.app.producer_or_acquire() as producer:
            producer.publish(
                envelope.to_wire(),
                exchange=exchange,
                routing_key=envelope.type,
                serializer="json",
                delivery_mode=2,
                declare=[exchange],
                retry=True,
                retry_policy=PUBLISH_RETRY,
                headers={"message_id": str(envelope.id)},
            )
        return f"exchange {EVENTS_EXCHANGE}"


def _future(moment: datetime | None) -> datetime | None:
    """An ETA only for a timer that is not due yet: the outbox publishes timers when they are
    due, and an ETA in the past would only make the worker hold the message for nothing."""
    return moment if moment is not None and moment > datetime.now(UTC) else None


def producer_app(broker_url: str, queue_type: str = CLASSIC) -> Celery:
    """A Celery app that only publishes, configured like ``shop.celery.app`` for another broker.

    Used where one process must publish to a broker other than its settings' (the integration
    tests, the walkthrough's ``--broker``); wire it in through ``bootstrap.configure``. On a
    RabbitMQ vhost of quorum queues, say so (``queue_type="quorum"``): it declares the queues it
    sends commands to, with the same arguments as the workers (queue_types.py).
    """
    settings = celery_settings_for(broker_url, queue_type)
    conf = {key.removeprefix("CELERY_").lower(): value for key, value in settings.items()}
    app = Celery("shop-producer", set_as_current=False, amqp=AMQP_CLASS)
    app.conf.update(broker_url=broker_url, **conf)
    return app
