"""Celery's worker consumer, with refused task messages dead-lettered like any other.

Messages on the command queues reach Celery's own consumer before any of our code. When it
cannot use one (a body that is not JSON, a content type we refuse such as pickle, a task name no
worker registered, a message that is not a task at all) Celery logs it and acknowledges or rejects
it: the message is gone, and only the worker's log knew. Here each of those also becomes a
``DeadLetter`` row, with the consumer that owns the queue, the queue, the reason and the raw body,
exactly as a malformed event on ``<service>.events`` does. Then Celery does what it always did, and
the worker carries on.

One more check runs before Celery's: a task message whose body is not ``[args, kwargs, embed]``,
or a command task not called with exactly one argument (the envelope), would otherwise fail in
the pool process or in the consumer itself, outside our task, and never be dead-lettered.

Wired with the ``worker_consumer`` setting (``CELERY_WORKER_CONSUMER``). The consumer's hooks
overridden here and the attributes read (``create_task_handler``, ``strategies``, the ``on_*``
handlers) are undocumented: they are named in ``messaging/celery_adapter/internals.py``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from celery.exceptions import InvalidTaskError
from django.db import close_old_connections
from kombu import Message
from vine import promise as vine_promise

from core.logs import message_context
from messaging.celery_adapter.internals import CeleryConsumer
from messaging.kernel.consuming import dead_letter
from messaging.kernel.routing import command_queues
from messaging.kernel.subscriptions import COMMAND_HANDLERS

logger = logging.getLogger("shop.messaging")

#: The consumer named on a dead letter from a queue no service is known to own.
UNKNOWN_CONSUMER = "celery"


def queue_of(message: Message) -> str:
    """The queue a message came from, as its delivery info tells (the routing key)."""
    info = message.delivery_info or {}
    return str(info.get("routing_key") or info.get("exchange") or "")[:120]


def owner_of(queue: str, task_name: str | None = None) -> str:
    """The service that consumes ``queue`` (known from the command handlers), else "celery"."""
    for command, command_queue in command_queues().items():
        if command_queue == queue and command in COMMAND_HANDLERS:
            return COMMAND_HANDLERS[command]
    if task_name and task_name in COMMAND_HANDLERS:
        return COMMAND_HANDLERS[task_name]
    return UNKNOWN_CONSUMER


def _headers(message: Message) -> dict[str, Any]:
    headers = message.headers
    return headers if isinstance(headers, dict) else {}


def _str_header(message: Message, key: str) -> str:
    value = _headers(message).get(key)
    return value if isinstance(value, str) else ""


def malformed_task(message: Message, known_tasks: Any) -> str | None:
    """Why a task message of a known task cannot be run, or None to let Celery take it.

    Only protocol-2 messages of registered tasks are checked here. Anything else (no task
    header, an unregistered name, a body that does not decode or a refused content type) takes
    Celery's own path, which calls the ``on_*`` handlers below.
    """
    name = _headers(message).get("task")
    if not isinstance(name, str) or name not in known_tasks:
        return None
    try:
        payload = message.decode()
    except Exception:  # noqa: BLE001 - Celery decodes it again and reports it through on_*
        return None
    if not _str_header(message, "id"):
        return "task message without an 'id' header"
    if not (
        isinstance(payload, list | tuple)
        and len(payload) == 3
        and isinstance(payload[0], list | tuple)
        and isinstance(payload[1], dict)
        and (payload[2] is None or isinstance(payload[2], dict))
    ):
        return f"task body is not [args, kwargs, embed] (got {type(payload).__name__})"
    args, kwargs = payload[0], payload[1]
    if name in COMMAND_HANDLERS and (len(args) != 1 or kwargs):
        return f"command task {name!r} takes exactly one argument, the envelope (got {len(args)} and {sorted(kwargs)})"
    return None


class Consumer(CeleryConsumer):
    """Celery's consumer; what it refuses on a command queue is dead-lettered first."""

    # Set by Celery's consumer, missing from its type stubs.
    strategies: dict[str, Any]
    connection_errors: tuple[type[BaseException], ...]

    def create_task_handler(self, promise: type[vine_promise] = vine_promise) -> Callable[..., Any]:
        handle = super().create_task_handler(promise)

        def on_task_received(message: Message) -> Any:
            problem = malformed_task(message, self.strategies)
            if problem is not None:
                return self.on_invalid_task(None, message, InvalidTaskError(problem))
            return handle(message)

        return on_task_received

    def on_decode_error(self, message: Message, exc: Exception) -> None:
        reason = f"undecodable ({message.content_type}): {exc}"
        if self._dead_letter(message, reason):
            super().on_decode_error(message, exc)

    def on_unknown_message(self, body: Any, message: Message) -> None:
        reason = "not a task message (no 'task' header): nothing on this queue can handle it"
        if self._dead_letter(message, reason):
            super().on_unknown_message(body, message)

    def on_unknown_task(self, body: Any, message: Message, exc: Exception) -> None:
        name = _str_header(message, "task") or "?"
        reason = f"unknown task {name!r}: no handler for it is registered in the worker consuming this queue"
        if not self._dead_letter(message, reason):
            return
        if _str_header(message, "id"):
            super().on_unknown_task(body, message, exc)
        else:  # Celery's handler needs the id to report the failure; just drop it, as it would.
            logger.error("Received unregistered task %r without an id; discarded", name)
            message.reject_log_error(logger, self.connection_errors)

    def on_invalid_task(self, body: Any, message: Message, exc: Exception) -> None:
        reason = f"invalid task message ({message.content_type}): {type(exc).__name__}: {exc}"
        if self._dead_letter(message, reason):
            super().on_invalid_task(body, message, exc)

    def _dead_letter(self, message: Message, reason: str) -> bool:
        """Store the message as a dead letter. False (and the message requeued) if that failed."""
        queue = queue_of(message)
        task = _str_header(message, "task")
        owner, message_id = owner_of(queue, task), _str_header(message, "id")
        close_old_connections()
        try:
            with message_context(consumer=owner, message_id=message_id, message_type=task):
                try:
                    dead_letter(owner, queue, message.body, reason, message_id=message_id, message_type=task)
                except Exception:
                    # The database, not the message: put it back and slow down rather than lose it
                    # (the event consumer does the same).
                    logger.exception("could not dead-letter a message from %s; requeueing", queue)
                    time.sleep(1)
                    message.requeue()
                    return False
        finally:
            close_old_connections()
        return True
