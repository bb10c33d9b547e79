"""Re-send a message to each consumer that has still not handled it, long after it was sent.

The outbox guarantees that the broker accepted a message; it cannot see what happens after. Most
of that is the broker's job (acks, redelivery of unacknowledged messages), but not all of it:
kombu's Redis transport takes a message off its list with BRPOP and records it as unacknowledged
with a second command, so a Redis restart between the two, or a reply lost with the connection,
loses that message for good. The fault tier measured it: one event copy out of about 5,000
deliveries during one Redis restart never reached its consumer, with nothing in any queue and
nothing unacknowledged.

So the relay closes the loop end to end, with what the app already records. A consumer writes a
message-log row in the transaction that applies a message (handled, failed, duplicate, dead
letter), which tells, per message id, which services are done with it. A message is *overdue*
for a service that should have handled it (a command's one handler; each subscriber of an event)
when it was sent more than ``after`` seconds ago, that service has written no row for it, and the
service's queue holds nothing ready, i.e. the consumer has caught up and the message is not
waiting behind others. The relay then sends a copy straight into that service's queue only,
with the same message id, so if the consumer had in fact applied it, its inbox skips the copy.
Each further copy waits twice as long as the one before, and after ``MAX_REDELIVERIES`` it stops:
a consumer that is down keeps its copy in its queue, and the operator sees the row in the admin.

A message every consumer has handled is marked settled and is not looked at again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery import Celery
from django.db import transaction
from django.utils import timezone

from core.models import MessageLog, OutboxMessage
from messaging.celery_adapter.topology import service_queue_name
from messaging.kernel import subscriptions
from messaging.kernel.envelope import Envelope
from messaging.kernel.names import Kind
from messaging.kernel.routing import queue_for
from messaging.operations.deadletters import publish_to_service_queue, resend_command

logger = logging.getLogger("shop.messaging")

#: Seconds after sending before a message counts as overdue for a consumer that has not handled
#: it. Far above a handler's run time; the fault tests lower it (SHOP_REDELIVER_AFTER).
DEFAULT_AFTER = 120.0
MAX_REDELIVERIES = 5
#: Messages sent longer ago than this are not examined any more.
HORIZON = timedelta(days=1)


def redeliver_after() -> float:
    return float(os.environ.get("SHOP_REDELIVER_AFTER", DEFAULT_AFTER))


@dataclass(frozen=True)
class Redelivery:
    message_id: str
    name: str
    service: str
    queue: str


def missing_consumers(kind: str, name: str, done: set[str]) -> list[str]:
    """The services that must still handle a message. A command has one handler, whichever
    service wrote a row for it; an event is missing for each subscriber without a row."""
    if kind == Kind.COMMAND.value:
        queue = queue_for(name)
        if done or queue is None:
            return []
        return [queue]  # the handler's queue names it well enough for the log
    return sorted(set(subscriptions.table().get(name, [])) - done)


def consumer_queue(kind: str, name: str, service: str) -> str:
    if kind == Kind.COMMAND.value:
        return queue_for(name) or name
    return service_queue_name(service)


def done_by(message_ids: Iterable[Any]) -> dict[str, set[str]]:
    """message id -> services that wrote a row for it (any outcome counts: handled, failed,
    duplicate, dead-lettered; each is the consumer saying it is done with the message)."""
    done: dict[str, set[str]] = {}
    rows = MessageLog.objects.filter(message_id__in=list(message_ids)).exclude(status=MessageLog.Status.SENT)
    for message_id, service in rows.values_list("message_id", "service"):
        done.setdefault(str(message_id), set()).add(service)
    return done


def redeliver_overdue(app: Celery, *, after: float | None = None, limit: int = 500) -> list[Redelivery]:
    """Settle what every consumer has handled; re-send what a caught-up consumer never got."""
    after = redeliver_after() if after is None else after
    now = timezone.now()
    unsettled = OutboxMessage.objects.filter(
        settled_at__isnull=True, sent_at__isnull=False, sent_at__gte=now - HORIZON, redeliveries__lt=MAX_REDELIVERIES
    )
    rows = list(unsettled.order_by("sent_at")[:limit])
    done = done_by(row.pk for row in rows)
    settled, overdue = [], []
    for row in rows:
        missing = missing_consumers(row.kind, row.name, done.get(str(row.pk), set()))
        if not missing:
            settled.append(row.pk)
        elif _waited_enough(row, now, after):
            overdue.append((row, missing))
    OutboxMessage.objects.filter(pk__in=settled).update(settled_at=now)
    if not overdue:
        return []
    busy = _queues_with_ready_messages(app, {consumer_queue(r.kind, r.name, s) for r, ms in overdue for s in ms})
    sent: list[Redelivery] = []
    for row, missing in overdue:
        copies = [
            Redelivery(str(row.pk), row.name, service, consumer_queue(row.kind, row.name, service))
            for service in missing
        ]
        copies = [c for c in copies if c.queue not in busy]
        if not copies:
            continue
        envelope = Envelope.from_wire(row.envelope)
        for copy in copies:
            _send(app, envelope, copy)
            logger.warning(
                "redelivery: %s %s not handled by %s %.0fs after it was sent; a copy went to %s",
                row.name,
                row.pk,
                copy.service,
                (now - row.sent_at).total_seconds() if row.sent_at else 0.0,
                copy.queue,
            )
        with transaction.atomic():
            OutboxMessage.objects.filter(pk=row.pk).update(redeliveries=row.redeliveries + 1, redelivered_at=now)
        sent += copies
    return sent


def _waited_enough(row: OutboxMessage, now: Any, after: float) -> bool:
    """``after`` since it was sent, then twice as long after each earlier copy."""
    assert row.sent_at is not None
    if row.redelivered_at is None:
        return bool(now - row.sent_at >= timedelta(seconds=after))
    return bool(now - row.redelivered_at >= timedelta(seconds=after * 2**row.redeliveries))


def _queues_with_ready_messages(app: Celery, queues: set[str]) -> set[str]:
    """Queues that still hold messages ready for delivery: their consumer has not caught up, so
    a message missing from its log may simply be waiting there. On RabbitMQ a queue that does not
    exist counts as busy: its consumer never ran, and a copy sent there would be dropped."""
    busy = set()
    with app.connection_for_write() as conn:
        channel: Any = conn.default_channel
        amqp = conn.transport.driver_type == "amqp"
        for name in queues:
            try:
                if _ready_in(channel, name, amqp=amqp):
                    busy.add(name)
            except Exception:  # noqa: BLE001 - RabbitMQ: no such queue yet
                busy.add(name)
                channel = conn.channel()  # AMQP closes the channel on a failed passive declare
    return busy


def _ready_in(channel: Any, queue: str, *, amqp: bool) -> int:
    """Messages ready in ``queue``. kombu's Redis (and memory) transport has no queue objects: a
    drained queue is a missing key, so a passive declare of an empty queue fails there. A plain
    declare writes nothing on those transports and returns the list's length. On RabbitMQ a plain
    declare could create the queue with the wrong arguments, so it stays passive. What this relies
    on in kombu is named in messaging/celery_adapter/internals.py."""
    return int(channel.queue_declare(queue=queue, passive=amqp).message_count)


def _send(app: Celery, envelope: Envelope, copy: Redelivery) -> None:
    headers = {"x-redelivery": "consumer had not handled it"}
    if envelope.kind is Kind.EVENT:
        publish_to_service_queue(app, envelope, copy.service, headers=headers)
    else:
        resend_command(app, envelope, copy.queue)
