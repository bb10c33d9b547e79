"""Dead letters: list them, send one back to the consumer that gave up on it, and mirror them
to RabbitMQ's own tooling.

**Retry goes to the consumer that gave up, and to no one else.** An event that analytics
dead-lettered is put straight into ``analytics.events`` (the default exchange, routing key = the
queue's name), never published to the ``events`` exchange again, which would hand a second copy
to every subscribing service. A command goes back to its command queue, which has exactly one
consumer. The message keeps its id, so if it had in fact been applied (the handler committed, then
the process died before the dead letter was acknowledged, say), the consumer's inbox makes the
retry a duplicate, not a second effect.

**Dead-letter exchange.** The database table is the dead-letter store on every broker: Redis has no
dead-letter exchange. On RabbitMQ each dead letter is also published, after its row commits, to the
durable fanout exchange ``dead-letters`` and its durable queue ``dead-letters``, so RabbitMQ's own
tools (management UI, ``rabbitmqadmin``, shovels) see them too. Classic work queues carry no
``x-dead-letter-exchange`` argument: queue arguments cannot change once a queue exists, and a worker
redeclaring an existing queue with a new argument fails with PRECONDITION_FAILED.

**Quorum queues** (``SHOP_QUEUE_TYPE=quorum``, a vhost whose queues are created quorum from the
start) do carry one: ``dead-letters``. A message returned to its queue more than the delivery limit
allows (messaging/celery_adapter/queue_types.py) is moved there by RabbitMQ, with its ``x-death``
header, instead of being dropped; no row is written for it (the database was most likely away),
and the relay's redelivery re-sends it once its consumer has caught up without a log row for it
(messaging/operations/redelivery.py). docs/decisions.md §21.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from django.utils import timezone

from core.models import DeadLetter
from messaging.celery_adapter import current
from messaging.celery_adapter.queue_types import queue_type_of
from messaging.celery_adapter.settings import broker_scheme
from messaging.celery_adapter.topology import (
    DEAD_LETTER_EXCHANGE,
    dead_letter_exchange,
    service_queue,
    service_queue_name,
)
from messaging.celery_adapter.topology import dead_letter_queue as dead_letter_queue
from messaging.kernel import log
from messaging.kernel.envelope import MAX_ENVELOPE_BYTES, Envelope, wire_size
from messaging.kernel.errors import MessagingError
from messaging.kernel.names import Kind
from messaging.kernel.routing import queue_for
from messaging.kernel.subscriptions import services

if TYPE_CHECKING:
    from celery import Celery

logger = logging.getLogger("shop.messaging")

#: How hard a retry or a mirror copy tries to reach the broker before giving up.
PUBLISH_RETRY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2}


class NotRetryable(MessagingError):
    """This dead letter cannot be sent back: the reason says why."""


@dataclass(frozen=True)
class RetryOutcome:
    letter_id: int
    retried: bool
    detail: str


def letters(consumer: str | None = None, *, pending_only: bool = False) -> QuerySet[DeadLetter]:
    rows = DeadLetter.objects.order_by("created_at", "id")
    if consumer:
        rows = rows.filter(consumer=consumer)
    if pending_only:
        rows = rows.filter(retried_at__isnull=True)
    return rows


def envelope_of(letter: DeadLetter) -> Envelope:
    """The envelope in a dead letter's raw body, or ``NotRetryable`` saying why there is none.

    The raw body is the envelope itself, or (for a task message the worker refused before our
    code saw it) Celery's ``[args, kwargs, embed]`` with the envelope as the one argument.
    """
    try:
        raw: Any = json.loads(letter.raw)
    except ValueError:
        raise NotRetryable(f"its raw body is not JSON, so it holds no envelope ({len(letter.raw)} chars)") from None
    if (
        isinstance(raw, list)
        and len(raw) == 3
        and isinstance(raw[0], list)
        and len(raw[0]) == 1
        and isinstance(raw[0][0], dict)
    ):
        raw = raw[0][0]
    try:
        envelope = Envelope.from_wire(raw)
    except MessagingError as exc:
        raise NotRetryable(f"its raw body is not a valid envelope ({exc})") from None
    size = wire_size(envelope.to_wire())
    if size > MAX_ENVELOPE_BYTES:
        raise NotRetryable(f"the envelope is {size} bytes, over the limit of {MAX_ENVELOPE_BYTES}")
    return envelope


def route_of(letter: DeadLetter, envelope: Envelope) -> tuple[Kind, str]:
    """The queue that leads back to the consumer that dead-lettered ``letter``, and only to it."""
    if letter.consumer in services() and letter.source == service_queue_name(letter.consumer):
        if envelope.kind is not Kind.EVENT:
            raise NotRetryable(f"it is a {envelope.kind.value} taken from {letter.source}; only events belong there")
        return Kind.EVENT, letter.source
    queue = queue_for(envelope.type)
    if envelope.kind is Kind.COMMAND and queue is not None and queue == letter.source:
        return Kind.COMMAND, queue
    raise NotRetryable(
        f"a {envelope.kind.value} {envelope.type!r} taken from {letter.source!r} by {letter.consumer!r} "
        "has no route back to that consumer alone"
    )


def retry(letter: DeadLetter, *, app: Celery | None = None) -> RetryOutcome:
    """Send one dead letter back to its own consumer and mark it retried."""
    try:
        envelope = envelope_of(letter)
        kind, queue = route_of(letter, envelope)
    except NotRetryable as exc:
        return RetryOutcome(letter.pk, False, f"cannot be retried: {exc}")
    if kind is Kind.EVENT:
        publish_to_service_queue(_app(app), envelope, letter.consumer, headers={"x-retry-of-dead-letter": letter.pk})
    else:
        resend_command(_app(app), envelope, queue)
    now = timezone.now()
    DeadLetter.objects.filter(pk=letter.pk).update(retried_at=now)
    letter.retried_at = now
    log.sent(envelope, route=f"queue {queue} (retry of dead letter {letter.pk})", duration_ms=0.0)
    return RetryOutcome(letter.pk, True, f"{envelope.type} {envelope.id} sent back to {letter.consumer} on {queue}")


def retry_many(rows: Iterable[DeadLetter], *, app: Celery | None = None) -> list[RetryOutcome]:
    return [retry(letter, app=app) for letter in rows]


def _app(app: Celery | None) -> Celery:
    if app is not None:
        return app
    return current.app()


def publish_to_service_queue(app: Celery, envelope: Envelope, service: str, *, headers: dict[str, Any]) -> None:
    """Put an event into one service's queue only, bypassing the ``events`` exchange (which would
    give every subscriber another copy). Also used by messaging/operations/redelivery.py."""
    # Declared as the topology declares it (same exchange binding, same arguments), so the
    # declaration is a no-op on a broker that has it and creates it on one that does not.
    queue = service_queue(service, app.conf.broker_url, queue_type_of(app))
    with app.producer_or_acquire() as producer:
        producer.publish(
            envelope.to_wire(),
            exchange="",  # the default exchange: straight into one queue, bypassing `events`
            routing_key=queue.name,
            serializer="json",
            delivery_mode=2,
            declare=[queue],
            retry=True,
            retry_policy=PUBLISH_RETRY,
            headers={"message_id": str(envelope.id), **headers},
        )


def resend_command(app: Celery, envelope: Envelope, queue: str) -> None:
    """Send a command again to its one queue, with its original task id (the envelope's id), so
    the consumer's inbox recognises it if it was applied after all."""
    app.send_task(
        envelope.type,
        args=[envelope.to_wire()],
        task_id=str(envelope.id),
        queue=queue,
        retry=True,
        retry_policy=PUBLISH_RETRY,
    )


# --- the RabbitMQ copy ---------------------------------------------------------------------


def mirror_dead_letter(letter: DeadLetter) -> None:
    """The kernel's ``after_dead_letter`` hook (messaging/bootstrap.py): the copy, if any."""
    mirror_to_broker(letter)


def mirror_to_broker(letter: DeadLetter, *, app: Celery | None = None) -> bool:
    """On RabbitMQ, publish a copy of ``letter`` to the ``dead-letters`` exchange.

    A copy for operators' tools: the row is the record, so failing to publish it is logged and
    never stops a consumer. Returns whether a copy was published.
    """
    app = _app(app)
    if broker_scheme(app.conf.broker_url) not in {"amqp", "pyamqp"}:
        return False
    try:
        body = letter.raw.encode("utf-8", "replace")
        try:
            json.loads(letter.raw)
            content_type = "application/json"
        except ValueError:
            content_type = "text/plain"
        with app.producer_or_acquire() as producer:
            producer.publish(
                body,
                exchange=dead_letter_exchange(),
                routing_key=letter.source,
                content_type=content_type,
                content_encoding="utf-8",
                delivery_mode=2,
                declare=[dead_letter_queue(queue_type_of(app))],
                retry=True,
                retry_policy=PUBLISH_RETRY,
                headers={
                    "x-dead-letter-id": letter.pk,
                    "x-consumer": letter.consumer,
                    "x-source": letter.source,
                    "x-message-id": letter.message_id,
                    "x-message-type": letter.message_type,
                    "x-reason": letter.reason[:1000],
                },
            )
    except Exception:
        logger.exception("could not copy dead letter %s to the %s exchange", letter.pk, DEAD_LETTER_EXCHANGE)
        return False
    return True
