"""Every private or undocumented part of Celery and kombu this project relies on, named once.

Most of the adapter uses Celery's and kombu's public API. A few fixes cannot: one copy per queue
on Redis (``redis_transport.py``), dead-lettering what Celery's own consumer refuses
(``celery_consumer.py``), a memory worker that stops at once (``memory_transport.py``), the
redelivery check that reads a queue's length (``operations/redelivery.py``), the embedded
worker (``embedded.py``) and the arguments of the command queues Celery creates on a quorum vhost
(``queue_types.py``). They override or call methods and attributes upstream may rename or
reshape in any release without notice, and such a change would not fail loudly: an override that
is never called any more, or an attribute read that returns something else, shows up as lost or
duplicated messages in production.

So each of them is an entry of ``INTERNALS`` below: the upstream object, the attribute, its kind
and expected parameters, the project module that relies on it and why. ``tests/unit/
test_internals.py`` checks every entry against the installed Celery and kombu, checks that
pyproject.toml caps both below the next untested minor version, and scans the product code for a
private Celery/kombu name used anywhere but here (or in a listed override). The calls themselves
go through the helpers and names below, so a module that needs a private name imports it from
here. To upgrade: raise the cap in pyproject.toml only once that test passes on the new version.

Public and documented API (``bootsteps.ConsumerStep``, ``app.steps``, ``app.user_options``,
``Connection.default_channel``, ``Channel.queue_declare`` on RabbitMQ, ...) is not listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from celery.app import amqp as celery_amqp
from celery.contrib.testing import worker as celery_testing_worker
from celery.worker.consumer import Consumer as CeleryConsumer
from kombu.transport import memory, redis, virtual
from kombu.transport.virtual.exchange import ExchangeType, TopicExchange

#: kombu's Redis channel and transport, subclassed by ``redis_transport.py``.
RedisChannel = redis.Channel
RedisTransport = redis.Transport
#: kombu's in-process transport, subclassed by ``memory_transport.py``.
MemoryChannel = memory.Channel
MemoryTransport = memory.Transport
#: Celery's ``app.amqp`` and its queue table, subclassed by ``queue_types.py``.
CeleryAMQP = celery_amqp.AMQP
CeleryQueues = celery_amqp.Queues
# CeleryConsumer: Celery's worker consumer (the ``worker_consumer`` setting), subclassed by
# ``celery_consumer.py``; TopicExchange: kombu's virtual topic exchange, by ``redis_transport.py``.

__all__ = [
    "INTERNALS",
    "CeleryAMQP",
    "CeleryConsumer",
    "CeleryQueues",
    "Internal",
    "MemoryChannel",
    "MemoryTransport",
    "RedisChannel",
    "RedisTransport",
    "TopicExchange",
    "bound_queues",
    "put_message",
]


def bound_queues(channel: Any, exchange: str, routing_key: str) -> Any:
    """The queues a virtual channel routes ``routing_key`` on ``exchange`` to (``Channel._lookup``)."""
    return channel._lookup(exchange, routing_key)


def put_message(channel: Any, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
    """Push one message onto one queue of a virtual channel, no exchange involved (``Channel._put``)."""
    channel._put(queue, message, **kwargs)


@dataclass(frozen=True)
class Internal:
    """One thing of Celery's or kombu's that the project relies on beyond their documented API."""

    #: The upstream class or module.
    owner: Any
    #: The attribute of ``owner`` the project uses.
    name: str
    #: "method" (called or overridden), "function", "class attribute" (on the class itself) or
    #: "instance attribute" (set as ``self.<name> = ...`` in the class's source).
    kind: str
    #: The parameter names a method or function must take, in order (``self`` excluded; "*args",
    #: "**kwargs" for variadics). Empty for attributes.
    params: tuple[str, ...]
    #: The project module that relies on it, relative to the repository.
    used_by: str
    #: How it is used: "override" (the project's subclass redefines it), "call" or "read".
    use: str
    why: str

    @property
    def label(self) -> str:
        """``module.Class.name`` (or ``module.name`` for a module's function)."""
        if isinstance(self.owner, type):
            return f"{self.owner.__module__}.{self.owner.__qualname__}.{self.name}"
        return f"{self.owner.__name__}.{self.name}"


_REDIS = "messaging/celery_adapter/redis_transport.py"
_CONSUMER = "messaging/celery_adapter/celery_consumer.py"
_MEMORY = "messaging/celery_adapter/memory_transport.py"
_REDELIVERY = "messaging/operations/redelivery.py"
_EMBEDDED = "messaging/celery_adapter/embedded.py"
_QUEUE_TYPES = "messaging/celery_adapter/queue_types.py"

INTERNALS: tuple[Internal, ...] = (
    # --- redis_transport.py: one independent copy per queue -----------------------------------
    Internal(
        RedisChannel, "_lookup", "method", ("exchange", "routing_key", "default"), _REDIS, "call",
        "the topic exchange's deliver() finds the queues bound to the routing key (bound_queues)",
    ),
    Internal(
        RedisChannel, "_put", "method", ("queue", "message", "**kwargs"), _REDIS, "call",
        "each copy is pushed onto its own queue's Redis list (put_message)",
    ),
    Internal(
        RedisChannel, "_connparams", "method", ("asynchronous",), _REDIS, "override",
        "raises a connection error instead of AttributeError once the connection is closed",
    ),
    Internal(
        RedisChannel, "exchange_types", "class attribute", (), _REDIS, "override",
        "the channel's exchange types, with 'topic' replaced by the copy-per-queue exchange",
    ),
    Internal(
        RedisChannel, "deadletter_queue", "class attribute", (), _REDIS, "read",
        "deliver() skips the dead-letter queue, as kombu's own TopicExchange.deliver() does",
    ),
    Internal(
        RedisTransport, "Channel", "class attribute", (), _REDIS, "override",
        "the transport builds its channels from this class: ours",
    ),
    Internal(
        virtual.Transport, "client", "instance attribute", (), _REDIS, "read",
        "_connparams() reads self.connection.client, which kombu sets to None when it closes",
    ),
    Internal(
        TopicExchange, "deliver", "method", ("message", "exchange", "routing_key", "**kwargs"), _REDIS, "override",
        "the copy-per-queue exchange replaces how a routed message reaches its queues",
    ),
    Internal(
        ExchangeType, "channel", "instance attribute", (), _REDIS, "read",
        "deliver() reaches the channel through the exchange type's channel attribute",
    ),
    # --- celery_consumer.py: what Celery's consumer refuses is dead-lettered -----------------
    Internal(
        CeleryConsumer, "create_task_handler", "method", ("promise",), _CONSUMER, "override",
        "wraps the handler of every task message to check its shape first",
    ),
    Internal(
        CeleryConsumer, "strategies", "instance attribute", (), _CONSUMER, "read",
        "task name -> strategy: the tasks this worker knows",
    ),
    Internal(
        CeleryConsumer, "connection_errors", "instance attribute", (), _CONSUMER, "read",
        "passed to message.reject_log_error() when an unknown task without an id is dropped",
    ),
    Internal(
        CeleryConsumer, "on_decode_error", "method", ("message", "exc"), _CONSUMER, "override",
        "an undecodable message (not JSON, pickle refused) is dead-lettered first",
    ),
    Internal(
        CeleryConsumer, "on_unknown_message", "method", ("body", "message"), _CONSUMER, "override",
        "a message without a 'task' header is dead-lettered first",
    ),
    Internal(
        CeleryConsumer, "on_unknown_task", "method", ("body", "message", "exc"), _CONSUMER, "override",
        "a task no worker registered is dead-lettered first",
    ),
    Internal(
        CeleryConsumer, "on_invalid_task", "method", ("body", "message", "exc"), _CONSUMER, "override",
        "an invalid task message (and our own shape check's verdict) is dead-lettered first",
    ),
    # --- memory_transport.py: a worker that stops in 0.1 s ---------------------------------
    Internal(
        MemoryTransport, "drain_events", "method", ("connection", "timeout"), _MEMORY, "override",
        "each wait is capped at MAX_WAIT so Celery's blocking loop checks for shutdown often",
    ),
    # --- operations/redelivery.py: how many messages a queue holds --------------------------
    # A plain queue_declare() on kombu's virtual transports writes nothing to Redis and returns
    # the list's length; a passive one fails for a drained queue, because Redis deletes an empty
    # list and _has_queue() tests that the key exists.
    Internal(
        virtual.Channel, "queue_declare", "method", ("queue", "passive", "**kwargs"), _REDELIVERY, "call",
        "passive only on RabbitMQ: returns message_count = _size(queue) after _new_queue(queue)",
    ),
    Internal(
        RedisChannel, "_has_queue", "method", ("queue", "**kwargs"), _REDELIVERY, "read",
        "EXISTS on the list keys: false once a queue is drained, so a passive declare fails there",
    ),
    Internal(
        RedisChannel, "_new_queue", "method", ("queue", "auto_delete", "**kwargs"), _REDELIVERY, "read",
        "a plain declare calls it: it only records options in the channel, writes nothing to Redis",
    ),
    Internal(
        RedisChannel, "_size", "method", ("queue",), _REDELIVERY, "read",
        "the declare's message_count: LLEN of the queue's lists, 0 for a missing key",
    ),
    Internal(
        MemoryChannel, "_new_queue", "method", ("queue", "**kwargs"), _REDELIVERY, "read",
        "memory:// (the embedded default): a plain declare creates an empty in-process queue",
    ),
    Internal(
        MemoryChannel, "_size", "method", ("queue",), _REDELIVERY, "read",
        "memory://: the declare's message_count is the in-process queue's size",
    ),
    # --- embedded.py: the in-process worker ----------------------------------------------------
    # Celery's documented testing helper; listed because the embedded worker depends on it
    # passing unknown keyword arguments (subscribers=...) on to the worker and its bootsteps.
    Internal(
        celery_testing_worker,
        "start_worker",
        "function",
        (
            "app", "concurrency", "pool", "loglevel", "logfile", "perform_ping_check",
            "ping_task_timeout", "shutdown_timeout", "**kwargs",
        ),
        _EMBEDDED,
        "call",
        "runs the embedded worker in a thread; **kwargs carries subscribers= to EventConsumerStep",
    ),
    # --- queue_types.py: command queues on a quorum vhost carry the app's arguments ------------
    Internal(
        CeleryQueues, "new_missing", "method", ("name",), _QUEUE_TYPES, "override",
        "a queue Celery creates from a route's name gets x-delivery-limit and x-dead-letter-exchange too",
    ),
    Internal(
        CeleryAMQP, "queues_cls", "class attribute", (), _QUEUE_TYPES, "override",
        "app.amqp builds its queue table (app.amqp.queues) from this class: ours",
    ),
)  # fmt: skip
