"""What the message log says happened to one mode's orders: pure functions over its rows.

``lesson.evidence.selectors.mode_log`` loads a ``ModeLog``; everything here only reads it, so the
measurements are easy to test and to read one at a time.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from lesson.evidence.coupling import PRODUCER

SENT = "sent"
DUPLICATE = "duplicate"
PROBLEMS = frozenset({"failed", "dead_lettered"})


class Row(Protocol):
    """The fields of a ``core.models.MessageLog`` row the measurements read."""

    message_id: Any
    name: str
    kind: str
    service: str
    route: str
    status: str
    correlation_id: str
    causation_id: str
    duration_ms: float | None
    outcome: Any
    created_at: datetime


@dataclass
class ModeLog:
    """One mode's measured orders and every log row they caused."""

    mode: str
    order_ids: list[str]  # the orders measured (the most recent ones of that mode)
    rows: Sequence[Row] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        return bool(self.order_ids)

    def sent(self, by: str | None = PRODUCER) -> list[Row]:
        return [r for r in self.rows if r.status == SENT and (by is None or r.service == by)]

    def handled(self, message_id: object) -> list[Row]:
        """Each consumer's final row for a message (duplicates, i.e. redeliveries, left out)."""
        key = str(message_id)
        return [r for r in self.rows if str(r.message_id) == key and r.status not in (SENT, DUPLICATE)]


def producer_messages(log: ModeLog) -> list[Row]:
    """What the order service itself sent."""
    return log.sent(PRODUCER)


def recipients(log: ModeLog) -> dict[str, set[str]]:
    """Message id -> the services that handled it, for every message the producer sent."""
    return {str(r.message_id): {d.service for d in log.handled(r.message_id)} for r in producer_messages(log)}


def reached_services(log: ModeLog) -> list[str]:
    return sorted({service for services in recipients(log).values() for service in services})


def handlers_by_name(log: ModeLog) -> dict[str, set[str]]:
    """Message name -> the services that handled the producer's messages of that name."""
    out: dict[str, set[str]] = {}
    for row in producer_messages(log):
        out.setdefault(row.name, set()).update(d.service for d in log.handled(row.message_id))
    return out


def fanout(log: ModeLog) -> list[int]:
    """For each producer message that was handled, by how many services."""
    return [len(services) for services in recipients(log).values() if services]


def replies_to_producer(log: ModeLog) -> list[Row]:
    """Commands other services sent back to the producer (return addresses), that it handled."""
    handled_by_producer = {str(r.message_id) for r in log.rows if r.service == PRODUCER and r.status != SENT}
    return [
        r
        for r in log.sent(None)
        if r.service != PRODUCER and r.kind == "command" and str(r.message_id) in handled_by_producer
    ]


@dataclass(frozen=True)
class Failure:
    """A consumer that failed on a message, and whether the producer heard of it."""

    message: str  # the message name
    message_id: str
    consumer: str
    status: str  # failed (replied) or dead_lettered
    producer_heard: bool  # a message caused by this failure, from the consumer, reached the producer


def failures(log: ModeLog) -> list[Failure]:
    """Every consumer failure on a message the producer sent."""
    out = []
    for sent in producer_messages(log):
        for row in log.handled(sent.message_id):
            if row.status in PROBLEMS:
                heard = _producer_heard(log, str(sent.message_id), row.service)
                out.append(Failure(sent.name, str(sent.message_id), row.service, row.status, heard))
    return out


def _producer_heard(log: ModeLog, message_id: str, consumer: str) -> bool:
    caused = [r for r in log.sent(consumer) if r.causation_id == message_id]
    return any(d.service == PRODUCER for r in caused for d in log.handled(r.message_id))


def broken_chains(log: ModeLog) -> list[Row]:
    """Sent messages whose ``causation_id`` names no message of the same order: the request
    chain cannot be traced through them. Roots (no cause) are fine."""
    known = {str(r.message_id) for r in log.rows}
    return [r for r in log.sent(None) if r.causation_id and r.causation_id not in known]


def routes(rows: Sequence[Row]) -> list[str]:
    return sorted({r.route for r in rows})


def durations_ms(rows: Sequence[Row]) -> list[float]:
    return [r.duration_ms for r in rows if r.duration_ms is not None]


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def projector_delays_ms(log: ModeLog, projector: str) -> list[float]:
    """For each producer event the projector handled: how long after it was sent (the window in
    which the read model was behind the write model)."""
    out = []
    for sent in producer_messages(log):
        for row in log.handled(sent.message_id):
            if row.service == projector and row.status == "handled":
                out.append((row.created_at - sent.created_at).total_seconds() * 1000)
    return out
