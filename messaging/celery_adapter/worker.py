"""The Celery side: command handlers as tasks, event subscribers as a consumer bootstep.

Why a bootstep for events: a Celery task published to a fanout exchange reaches every bound
queue as the *same* task (one name, one task id), and its ``delivery_info`` names the
exchange, not the queue, so the task cannot tell which service it runs for. A bootstep with
one kombu ``Consumer`` per ``<service>.events`` queue always knows its service (ARCHITECTURE.md
§4). Its callbacks run in the worker's consumer thread; handlers here are short DB writes.

Start a worker for a service's events with ``--subscribers inventory`` (see Procfile).
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any

from celery import bootsteps, shared_task
from celery.exceptions import Reject
from django.db import close_old_connections
from kombu import Consumer, Message

from core.logs import message_context
from core.transient import CONSUMERS, is_transient, reset_connections
from messaging.celery_adapter.queue_types import QUORUM, queue_type_of
from messaging.celery_adapter.topology import dead_letter_queue, service_queue
from messaging.kernel.consuming import dead_letter, deliver_command, deliver_event
from messaging.kernel.routing import queue_for
from messaging.kernel.subscriptions import services
from messaging.kernel.wiring import CommandRegistration

logger = logging.getLogger("shop.messaging")


def define_task(registration: CommandRegistration) -> None:
    """Make a registered command handler (messaging/kernel/subscriptions.py) the one Celery task
    of its command, consumed from the command's queue (messaging/kernel/routing.py)."""
    name, service = registration.name, registration.service
    queue = queue_for(name) or name

    @shared_task(name=name, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def task(envelope: Any) -> None:
        close_old_connections()  # as around a request: CONN_MAX_AGE and the health check decide
        try:
            with message_context(envelope, consumer=service):
                try:
                    deliver_command(
                        service,
                        name,
                        envelope,
                        registration.handler,
                        queue=queue,
                        policy=registration.retry,
                        before=registration.before,
                    )
                except Exception as exc:
                    if not settle_unexpected(service, queue, envelope, exc):
                        # Back on its queue, unacknowledged: Celery requeues a rejected message.
                        raise Reject(f"{type(exc).__name__}: {exc}", requeue=True) from exc
                else:
                    CONSUMERS.succeeded()
        finally:
            close_old_connections()


class EventConsumerStep(bootsteps.ConsumerStep):
    """One consumer per ``<service>.events`` queue named in ``--subscribers``."""

    def __init__(self, parent: Any, subscribers: str = "", **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.broker_url: str = parent.app.conf.broker_url
        self.queue_type = queue_type_of(parent.app)
        self.requested = [s.strip() for s in (subscribers or "").split(",") if s.strip()]

    def services(self) -> list[str]:
        known = services()
        if self.requested == ["all"]:
            return known
        unknown = sorted(set(self.requested) - set(known))
        if unknown:
            raise RuntimeError(f"--subscribers names {unknown}, which no installed app subscribes as (known: {known})")
        return self.requested

    def get_consumers(self, channel: Any) -> list[Consumer]:
        if self.queue_type == QUORUM:
            # Every quorum queue names `dead-letters` as its dead-letter exchange, and RabbitMQ
            # drops what it dead-letters to an exchange that does not exist: so it exists before
            # this worker takes its first message (queue_types.py).
            dead_letter_queue(QUORUM)(channel).declare()
        consumers = []
        for service in self.services():
            queue = service_queue(service, self.broker_url, self.queue_type)
            consumers.append(
                Consumer(
                    channel,
                    queues=[queue],
                    accept=["json"],
                    # One at a time: handlers run inline, and competing workers share fairly.
                    prefetch_count=1,
                    callbacks=[partial(on_event_message, service, queue.name)],
                    on_decode_error=partial(on_undecodable, service, queue.name),
                )
            )
            logger.info("consuming %s for %s", queue.name, service)
        return consumers


def settle_unexpected(service: str, queue: str, raw: Any, exc: Exception) -> bool:
    """What to do with a message whose delivery raised (not the handler failing: that is
    retried and reported inside ``deliver_*``). True if it is settled and may be acknowledged.

    A transient failure (the database went away; core/transient.py) is not: the
    connection is reset and, after a backoff, the caller puts the message back on its queue.
    Anything else is the core failing on this message, and retrying would fail the same way:
    it is dead-lettered with the reason. If even that fails, the message goes back too."""
    if not is_transient(exc):
        logger.exception("%s failed on a message from %s; dead-lettering it", service, queue)
        try:
            dead_letter(service, queue, raw, f"unexpected error: {type(exc).__name__}: {exc}")
            return True
        except Exception as again:  # noqa: BLE001 - most likely the database: keep the message
            exc = again
    reset_connections()
    delay = CONSUMERS.next_delay()
    logger.warning("%s: %s; the message goes back on %s in %.1f s", service, exc, queue, delay)
    time.sleep(delay)
    return False


def on_event_message(service: str, queue: str, body: Any, message: Message) -> None:

    close_old_connections()
    try:
        with message_context(body, consumer=service):
            try:
                deliver_event(service, body, queue=queue)
            except Exception as exc:  # noqa: BLE001 - settled below: dead-lettered, or requeued after a backoff
                if not settle_unexpected(service, queue, body, exc):
                    message.requeue()
                    return
            else:
                CONSUMERS.succeeded()
    finally:
        close_old_connections()  # as after a request: CONN_MAX_AGE decides what stays open
    message.ack()


def on_undecodable(service: str, queue: str, message: Message, exc: Exception) -> None:
    """Not JSON, or a content type we refuse (pickle): dead-letter it and carry on."""
    close_old_connections()
    try:
        dead_letter(service, queue, message.body, f"undecodable ({message.content_type}): {exc}")
    except Exception as failure:  # noqa: BLE001 - logged; the message goes back on its queue
        # The dead-letter store itself failed (database down?): keep the worker and the message.
        logger.warning("%s could not dead-letter a message from %s (%s); requeueing", service, queue, failure)
        reset_connections()
        time.sleep(CONSUMERS.next_delay())
        message.requeue()
        return
    finally:
        close_old_connections()
    message.ack()
