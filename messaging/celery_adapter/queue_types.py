"""RabbitMQ queue types: ``classic`` (the default) or ``quorum`` (``SHOP_QUEUE_TYPE=quorum``).

With ``quorum`` every durable queue the app declares on RabbitMQ is a quorum queue: each
``<service>.events`` queue, each command queue (``inventory.reserve``, ..., ``orders.replies``),
Celery's default queue ``celery`` and the ``dead-letters`` mirror. Celery's own transient queues
(the remote-control ``pidbox`` and the monitor's ``celeryev`` queues) are auto-delete, which
quorum queues cannot be, and stay classic. On Redis and ``memory://`` the setting has no effect:
they have one kind of queue (``queue_type_of`` says ``classic`` there).

Every quorum work queue also carries a delivery limit and a dead-letter exchange
(docs/decisions.md §21): after ``QUORUM_DELIVERY_LIMIT`` returns to the queue (a worker killed
while holding it, a consumer putting it back while the database is away) RabbitMQ gives up on
the message and moves it to the ``dead-letters`` exchange, where the operators' copy of every
dead letter already goes, instead of dropping it. RabbitMQ 4 sets a limit of 20 on every quorum
queue and drops the message when no dead-letter exchange is set; stating the limit keeps the
behaviour the same on 3.x and 4.x.

Queue arguments cannot change on an existing queue: a vhost switches type by being emptied and
its queues deleted (or by a new vhost), never by a worker redeclaring them.

Celery declares the command queues itself, from the router's names (``task_create_missing_queues``),
with ``x-queue-type`` only. ``AMQP`` below makes those carry the same limit and dead-letter
exchange, so that a worker (``-Q``) and a producer declare each queue with identical arguments;
an app that publishes commands to a quorum vhost must be created with it (``shop/celery.py``,
``transport.producer_app``).
"""

from __future__ import annotations

from typing import Any

from kombu import Queue

from messaging.celery_adapter.internals import CeleryAMQP, CeleryQueues

QUEUE_TYPES = ("classic", "quorum")
CLASSIC, QUORUM = QUEUE_TYPES

#: Returns to the queue after which RabbitMQ dead-letters a message (``x-delivery-limit``). A
#: consumer puts a message back only when it cannot run it because something is away (the
#: database; core/transient.py), after a backoff of at most 10 s: 1000 returns is over an hour
#: of outage. Anything the message itself gets wrong is dead-lettered by the app long before.
QUORUM_DELIVERY_LIMIT = 1000

#: Where the app mirrors its dead letters on RabbitMQ (messaging/operations/deadletters.py), and
#: where a quorum queue sends what it gives up on.
DEAD_LETTER_EXCHANGE = "dead-letters"
DEAD_LETTER_QUEUE = "dead-letters"


def queue_type_from_env(value: str | None) -> str:
    """``SHOP_QUEUE_TYPE``: ``classic`` unless set; anything else stops the process at start."""
    queue_type = (value or CLASSIC).strip().lower()
    if queue_type not in QUEUE_TYPES:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"SHOP_QUEUE_TYPE must be one of {QUEUE_TYPES}, not {value!r}")
    return queue_type


def queue_arguments(queue_type: str, *, delivery_limit: int = QUORUM_DELIVERY_LIMIT) -> dict[str, Any] | None:
    """The arguments of a work queue of ``queue_type`` (None for classic: none at all)."""
    if queue_type == CLASSIC:
        return None
    if queue_type != QUORUM:
        raise ValueError(f"unknown queue type {queue_type!r} (one of {QUEUE_TYPES})")
    return {
        "x-queue-type": QUORUM,
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
    }


def queue_type_of(app: Any) -> str:
    """The type of the queues ``app`` declares: ``quorum`` only on RabbitMQ with SHOP_QUEUE_TYPE=quorum
    (the settings set Celery's ``task_create_missing_queue_type`` only there)."""
    return QUORUM if app.conf.task_create_missing_queue_type == QUORUM else CLASSIC


class Queues(CeleryQueues):
    """Celery's queue table, except that a command queue it creates on a quorum vhost also
    carries the delivery limit and the dead-letter exchange (Celery adds ``x-queue-type`` only)."""

    def new_missing(self, name: str) -> Queue:
        queue: Queue = super().new_missing(name)
        arguments = queue.queue_arguments or {}
        if arguments.get("x-queue-type") == QUORUM:
            queue.queue_arguments = {**arguments, **(queue_arguments(QUORUM) or {})}
        return queue


class AMQP(CeleryAMQP):
    """Celery's ``app.amqp``, with the queue table above (``Celery(amqp=...)``)."""

    queues_cls = Queues


#: For ``Celery(..., amqp=AMQP_CLASS)``.
AMQP_CLASS = f"{__name__}:AMQP"
