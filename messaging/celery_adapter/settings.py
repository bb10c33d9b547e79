"""Celery settings derived from the broker URL, kept apart so settings.py stays declarative."""

from __future__ import annotations

import os
from typing import Any

from kombu import Exchange, Queue

from messaging.celery_adapter.queue_types import CLASSIC, QUEUE_TYPES, QUORUM, queue_arguments

FLOW_MODES = ("command", "event")

#: Redis: how long a delivered but unacknowledged message stays invisible before Redis hands it
#: to another consumer. Handlers here take milliseconds; 300 s redelivers a message held by a
#: killed worker within five minutes, and is far above any handler's run time, so a healthy
#: slow handler is not run twice. (kombu's default is 3600 s.) See README "Delivery guarantees".
REDIS_VISIBILITY_TIMEOUT = 300


def flow_mode_from_env(value: str | None) -> str:
    mode = (value or "event").strip().lower()
    if mode not in FLOW_MODES:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"SHOP_FLOW_MODE must be one of {FLOW_MODES}, not {value!r}")
    return mode


def broker_scheme(url: str) -> str:
    return url.split("://", 1)[0].split("+", 1)[0].lower()


def celery_settings_for(broker_url: str, queue_type: str = CLASSIC) -> dict[str, Any]:
    """The CELERY_* settings for ``broker_url``. ``queue_type`` (SHOP_QUEUE_TYPE) matters on RabbitMQ
    only: Redis and ``memory://`` have one kind of queue, and ignore it."""
    if queue_type not in QUEUE_TYPES:
        raise ValueError(f"unknown queue type {queue_type!r} (one of {QUEUE_TYPES})")
    scheme = broker_scheme(broker_url)
    conf: dict[str, Any] = {
        "CELERY_TASK_SERIALIZER": "json",
        "CELERY_RESULT_SERIALIZER": "json",
        "CELERY_ACCEPT_CONTENT": ["json"],
        "CELERY_EVENT_SERIALIZER": "json",
        "CELERY_RESULT_BACKEND": None,
        "CELERY_TASK_IGNORE_RESULT": True,
        # A command's queue follows from its name (messaging/kernel/routing.py): no list of queues.
        "CELERY_TASK_ROUTES": ("messaging.celery_adapter.transport:route_command",),
        "CELERY_TASK_DEFAULT_QUEUE": "celery",
        "CELERY_TASK_ACKS_LATE": True,
        "CELERY_TASK_REJECT_ON_WORKER_LOST": True,
        "CELERY_WORKER_PREFETCH_MULTIPLIER": 1,
        "CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP": True,
        "CELERY_WORKER_HIJACK_ROOT_LOGGER": False,
        "CELERY_TASK_SEND_SENT_EVENT": False,
        # Celery's Django fixup closes the database connection around every task, whatever
        # CONN_MAX_AGE says, unless this is set (then it closes every N tasks). Our tasks close
        # old connections themselves, as Django does around a request (messaging/celery_adapter/worker.py),
        # so a worker keeps one connection and drops it when it breaks or ages.
        "CELERY_DB_REUSE_MAX": 1000,
        # Celery's consumer, except that a task message it refuses (not JSON, pickle, an unknown
        # task, not a task at all) is also dead-lettered, like a malformed event.
        "CELERY_WORKER_CONSUMER": "messaging.celery_adapter.celery_consumer:Consumer",
    }
    if scheme in {"redis", "rediss"}:
        # kombu's own Redis transport, except that a message routed to several queues gets one
        # independent copy per queue (see messaging/celery_adapter/redis_transport.py for why).
        conf["CELERY_BROKER_TRANSPORT"] = "messaging.celery_adapter.redis_transport:Transport"
        # SHOP_REDIS_VISIBILITY_TIMEOUT exists for the fault tests, which kill workers and cannot
        # wait five minutes for Redis to hand their messages out again.
        timeout = int(os.environ.get("SHOP_REDIS_VISIBILITY_TIMEOUT", REDIS_VISIBILITY_TIMEOUT))
        conf["CELERY_BROKER_TRANSPORT_OPTIONS"] = {"visibility_timeout": timeout}
    if scheme == "memory":
        # The in-process transport polls its queues; kombu's 1 s default makes every hop slow.
        conf["CELERY_BROKER_TRANSPORT_OPTIONS"] = {"polling_interval": 0.01}
        # kombu's memory transport, except that a worker stops in 0.1 s instead of 2-3.5 s
        # (see messaging/celery_adapter/memory_transport.py).
        conf["CELERY_BROKER_TRANSPORT"] = "messaging.celery_adapter.memory_transport:Transport"
    if scheme in {"amqp", "pyamqp"}:
        conf["CELERY_BROKER_TRANSPORT_OPTIONS"] = {"confirm_publish": True}
        if queue_type == QUORUM:
            conf.update(quorum_settings(conf["CELERY_TASK_DEFAULT_QUEUE"]))
    return conf


def quorum_settings(default_queue: str) -> dict[str, Any]:
    """Every queue Celery declares is a quorum queue (messaging/celery_adapter/queue_types.py)."""
    return {
        # The command queues, created from the router's names (with the app's AMQP class, they
        # also get the delivery limit and dead-letter exchange; queue_types.py).
        "CELERY_TASK_CREATE_MISSING_QUEUE_TYPE": QUORUM,
        # Celery's default queue, stated with the same arguments as every other work queue.
        "CELERY_TASK_DEFAULT_QUEUE_TYPE": QUORUM,
        "CELERY_TASK_QUEUES": (
            Queue(
                default_queue,
                Exchange(default_queue, type="direct", durable=True),
                routing_key=default_queue,
                durable=True,
                queue_arguments=queue_arguments(QUORUM),
            ),
        ),
        # Quorum queues refuse a consumer on a channel with global QoS: Celery sees the quorum
        # queues in its table and applies the prefetch per consumer instead (its default, stated).
        "CELERY_WORKER_DETECT_QUORUM_QUEUES": True,
    }
