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
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from celery import bootsteps, shared_task
from kombu import Consumer, Message

from shop.messaging.retry import DEFAULT_RETRY, RetryPolicy
from shop.messaging.settings import COMMAND_QUEUES
from shop.messaging.subscriptions import Before

logger = logging.getLogger("shop.messaging")

F = TypeVar("F", bound=Callable[..., Any])

#: command name -> service that handles it (exactly one: a command has one handler).
COMMAND_HANDLERS: dict[str, str] = {}


def command_handler(
    name: str, *, service: str, retry: RetryPolicy = DEFAULT_RETRY, before: Before | None = None
) -> Callable[[F], F]:
    """Register ``fn(envelope, command) -> result`` as the one Celery task for command ``name``.

    ``before(envelope, command)`` runs first, outside the handler's transaction (see
    ``shop.messaging.subscriptions.Before``)."""

    def decorate(fn: F) -> F:
        if name in COMMAND_HANDLERS and COMMAND_HANDLERS[name] != service:
            raise RuntimeError(
                f"{name!r} already has a handler in {COMMAND_HANDLERS[name]!r}: one command, one handler"
            )
        COMMAND_HANDLERS[name] = service
        queue = COMMAND_QUEUES.get(name, name)

        @shared_task(name=name, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
        def task(envelope: Any) -> None:
            from django.db import close_old_connections

            from shop.messaging.consuming import deliver_command

            close_old_connections()  # as around a request: CONN_MAX_AGE and the health check decide
            try:
                deliver_command(service, name, envelope, fn, queue=queue, policy=retry, before=before)
            finally:
                close_old_connections()

        fn.task = task  # type: ignore[attr-defined]
        return fn

    return decorate


class EventConsumerStep(bootsteps.ConsumerStep):
    """One consumer per ``<service>.events`` queue named in ``--subscribers``."""

    def __init__(self, parent: Any, subscribers: str = "", **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.broker_url: str = parent.app.conf.broker_url
        self.requested = [s.strip() for s in (subscribers or "").split(",") if s.strip()]

    def services(self) -> list[str]:
        from shop.messaging.subscriptions import services

        known = services()
        if self.requested == ["all"]:
            return known
        unknown = sorted(set(self.requested) - set(known))
        if unknown:
            raise RuntimeError(f"--subscribers names {unknown}, which no installed app subscribes as (known: {known})")
        return self.requested

    def get_consumers(self, channel: Any) -> list[Consumer]:
        from shop.messaging.topology import service_queue

        consumers = []
        for service in self.services():
            queue = service_queue(service, self.broker_url)
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


def on_event_message(service: str, queue: str, body: Any, message: Message) -> None:
    from django.db import close_old_connections

    from shop.messaging.consuming import deliver_event

    close_old_connections()
    try:
        deliver_event(service, body, queue=queue)
    except Exception:
        # Not the handler failing (that is retried and dead-lettered inside): the database or
        # the core itself. Put the message back and slow down rather than lose it.
        logger.exception("%s could not process a message from %s; requeueing", service, queue)
        time.sleep(1)
        message.requeue()
        return
    finally:
        close_old_connections()  # as after a request: CONN_MAX_AGE decides what stays open
    message.ack()


def on_undecodable(service: str, queue: str, message: Message, exc: Exception) -> None:
    """Not JSON, or a content type we refuse (pickle): dead-letter it and carry on."""
    from django.db import close_old_connections

    from shop.messaging.consuming import dead_letter

    close_old_connections()
    try:
        dead_letter(service, queue, message.body, f"undecodable ({message.content_type}): {exc}")
    except Exception:
        # The dead-letter store itself failed (database down?): keep the worker and the message.
        logger.exception("%s could not dead-letter a message from %s; requeueing", service, queue)
        time.sleep(1)
        message.requeue()
        return
    finally:
        close_old_connections()
    message.ack()
