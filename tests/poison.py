"""Poison and malformed messages, built as raw broker messages, for both test tiers.

Each one is published with plain kombu straight into a queue: ``inventory.events`` (the event
consumer bootstep) or ``inventory.reserve`` (Celery's consumer, then our command task). Task
messages carry Celery's protocol-2 headers, as ``celery.app.amqp.AMQP.as_task_v2`` builds them.
"""

from __future__ import annotations

import json
import pickle
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kombu import Connection

from messaging.kernel.envelope import MAX_ENVELOPE_BYTES

EVENTS_QUEUE = "inventory.events"
COMMAND_QUEUE = "inventory.reserve"
#: What a command task's body carries besides its one argument (Celery's "embed").
EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


@dataclass(frozen=True)
class Raw:
    """One message as it goes on the wire: body bytes, content type, headers."""

    body: bytes
    content_type: str = "application/json"
    content_encoding: str = "utf-8"
    headers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Poison:
    name: str
    queue: str
    build: Callable[[int], Raw]  # product id -> message
    reason: str  # expected in the dead letter's reason


def task_headers(task: str, task_id: str | None = None, **extra: Any) -> dict[str, Any]:
    task_id = task_id or str(uuid.uuid4())
    headers: dict[str, Any] = {
        "lang": "py",
        "task": task,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": "(...)",
        "kwargsrepr": "{}",
        "origin": "tests.poison",
        "ignore_result": True,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }
    headers.update(extra)
    return headers


def envelope(kind: str, type_: str, data: dict[str, Any], *, version: int = 1) -> dict[str, Any]:
    message_id = str(uuid.uuid4())
    return {
        "id": message_id,
        "kind": kind,
        "type": type_,
        "version": version,
        "occurred_at": "2025-01-01T12:00:00+00:00",
        "correlation_id": message_id,
        "producer": "tests",
        "data": data,
    }


def placed(product_id: int, *, quantity: int = 2, version: int = 2, **extra: Any) -> dict[str, Any]:
    order_id = str(uuid.uuid4())
    line = {"product_id": product_id, "sku": "PROD-A", "quantity": quantity, "unit_price": "24.99"}
    data = {
        "order_id": order_id,
        "user_id": 1,
        "items": [line],
        "amount": str(24.99 * quantity),
        "currency": "EUR",
        "placed_at": "2025-01-01T12:00:00+00:00",
        **extra,
    }
    return envelope("event", "order.placed", data, version=version)


def reserve(
    product_id: int, *, quantity: int = 2, version: int = 1, type_: str = "inventory.reserve"
) -> dict[str, Any]:
    data = {"order_id": str(uuid.uuid4()), "items": [{"product_id": product_id, "quantity": quantity}]}
    return envelope("command", type_, data, version=version)


def as_json(value: Any, **headers: Any) -> Raw:
    return Raw(json.dumps(value).encode(), headers=headers)


def as_task(args: list[Any], *, task: str = COMMAND_QUEUE, kwargs: dict[str, Any] | None = None) -> Raw:
    return Raw(json.dumps([args, kwargs or {}, EMBED]).encode(), headers=task_headers(task))


PADDING = "x" * (MAX_ENVELOPE_BYTES + 1024)
PICKLED = pickle.dumps({"kind": "event", "type": "order.placed"})

EVENT_POISONS = [
    Poison(
        "not JSON", EVENTS_QUEUE, lambda p: Raw(b'{"kind": "event", "type": oops'), "undecodable (application/json)"
    ),
    Poison(
        "plain text", EVENTS_QUEUE, lambda p: Raw(b"please reserve stock", "text/plain"), "undecodable (text/plain)"
    ),
    Poison(
        "pickle",
        EVENTS_QUEUE,
        lambda p: Raw(PICKLED, "application/x-python-serialize", "binary"),
        "undecodable (application/x-python-serialize)",
    ),
    Poison("not an envelope", EVENTS_QUEUE, lambda p: as_json(["order.placed", p]), "an envelope is a JSON object"),
    Poison(
        "unknown type",
        EVENTS_QUEUE,
        lambda p: as_json(envelope("event", "order.teleported", {"order_id": str(uuid.uuid4())})),
        "no contract is registered for message type 'order.teleported'",
    ),
    Poison(
        "unsupported version", EVENTS_QUEUE, lambda p: as_json(placed(p, version=9)), "'order.placed' has no version 9"
    ),
    Poison("schema violation", EVENTS_QUEUE, lambda p: as_json(placed(p, quantity=-3)), "quantity"),
    Poison("a command on an event queue", EVENTS_QUEUE, lambda p: as_json(reserve(p)), "only events belong"),
    Poison("oversized", EVENTS_QUEUE, lambda p: as_json(placed(p, padding=PADDING)), "oversized"),
]

COMMAND_POISONS = [
    Poison(
        "task, not JSON",
        COMMAND_QUEUE,
        lambda p: Raw(b'[[{"kind": "command", oops', headers=task_headers(COMMAND_QUEUE)),
        "undecodable (application/json)",
    ),
    Poison(
        "task, plain text",
        COMMAND_QUEUE,
        lambda p: Raw(b"reserve two of PROD-A", "text/plain", headers=task_headers(COMMAND_QUEUE)),
        "invalid task message (text/plain): ContentDisallowed",
    ),
    Poison(
        "task, pickle",
        COMMAND_QUEUE,
        lambda p: Raw(
            pickle.dumps([[reserve(p)], {}, EMBED]),
            "application/x-python-serialize",
            "binary",
            task_headers(COMMAND_QUEUE),
        ),
        "invalid task message (application/x-python-serialize): ContentDisallowed",
    ),
    Poison(
        "task, body not [args, kwargs, embed]",
        COMMAND_QUEUE,
        lambda p: Raw(json.dumps({"envelope": reserve(p)}).encode(), headers=task_headers(COMMAND_QUEUE)),
        "task body is not [args, kwargs, embed]",
    ),
    Poison(
        "task, two arguments",
        COMMAND_QUEUE,
        lambda p: as_task([reserve(p), "extra"]),
        "takes exactly one argument",
    ),
    Poison(
        "task, argument not an envelope", COMMAND_QUEUE, lambda p: as_task(["PROD-A"]), "an envelope is a JSON object"
    ),
    Poison(
        "task, unknown command type",
        COMMAND_QUEUE,
        lambda p: as_task([reserve(p, type_="inventory.teleport")]),
        "received a command 'inventory.teleport'",
    ),
    Poison(
        "task, unsupported version",
        COMMAND_QUEUE,
        lambda p: as_task([reserve(p, version=9)]),
        "'inventory.reserve' has no version 9",
    ),
    Poison("task, schema violation", COMMAND_QUEUE, lambda p: as_task([reserve(p, quantity=-3)]), "quantity"),
    Poison(
        "task, oversized",
        COMMAND_QUEUE,
        lambda p: as_task([{**reserve(p), "data": {"padding": PADDING}}]),
        "oversized",
    ),
    Poison(
        "unknown task name",
        COMMAND_QUEUE,
        lambda p: as_task([reserve(p)], task="inventory.teleport"),
        "unknown task 'inventory.teleport'",
    ),
    Poison("not a task, JSON", COMMAND_QUEUE, lambda p: as_json({"hello": "inventory"}), "not a task message"),
    Poison(
        "not a task, binary",
        COMMAND_QUEUE,
        lambda p: Raw(b"\x00\x01\x02garbage\xff", "application/octet-stream", "binary"),
        "undecodable (application/octet-stream)",
    ),
]

POISONS = EVENT_POISONS + COMMAND_POISONS


def publish_raw(connection: Connection, queue: str, raw: Raw) -> None:
    """Put ``raw`` into ``queue`` through the default exchange, bypassing every serializer."""
    with connection.Producer() as producer:
        producer.publish(
            raw.body,
            exchange="",
            routing_key=queue,
            content_type=raw.content_type,
            content_encoding=raw.content_encoding,
            headers=raw.headers,
            delivery_mode=2,
            retry=True,
        )
