"""The admin's order timeline: the messages an order caused, each with every service that handled it.

The order's change page shows it (orders/admin.py). The grouping is the walkthrough's own (``trace.build_trace``),
so the admin and the walkthrough tell the same story; this module adds what a trace leaves out
and a table needs: the log row behind each line, to link to it. Steps are nested by causation
(``trace.causation_tree``), so a reply or a follow-up event is shown under the message whose
handling sent it.

Nothing here knows which mode the order was placed in: a command-mode order shows one handler
per message, an event-mode order shows the fanout, because that is what the log holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core import trace  #: Log rows read for one order. Orders cause a dozen or so; the cap keeps a runaway
from core.models import MessageLog

#: (a retry storm, say) from making the page slow. The message log link shows them all.
MAX_ROWS = 500


@dataclass(frozen=True)
class Handling:
    """One service's handling of a message: one message-log row."""

    log_id: int
    consumer: str
    queue: str
    status: str  # the log's status label: "handled", "dead-lettered", ...
    problem: bool  # failed or dead-lettered
    attempts: int
    duration_ms: float | None  # the handler's run time; None when it did not complete
    at_ms: float  # since the timeline's start
    did: str  # what it did, or the error


@dataclass(frozen=True)
class TimelineStep:
    """One message: what it was, who sent it through what, why, and every handling of it."""

    message_id: str
    kind: str  # "command" or "event"
    name: str
    sender: str | None  # None: the log has no 'sent' row for it
    route: str  # the queue (command) or exchange (event) it was sent through
    sent_log_id: int | None
    sent_ms: float | None
    publish_ms: float | None  # how long handing it to the broker took
    depth: int  # 0: sent because of the request; n: sent while handling a message at depth n - 1
    handlings: tuple[Handling, ...]


@dataclass(frozen=True)
class Timeline:
    correlation_id: str
    steps: tuple[TimelineStep, ...]
    rows_total: int  # log rows with this correlation id
    rows_read: int  # of which the timeline was built from the first ``rows_read``

    @property
    def truncated(self) -> bool:
        return self.rows_read < self.rows_total


def order_timeline(correlation_id: str, *, start: datetime | None = None) -> Timeline:
    """The timeline of everything logged under ``correlation_id`` (an order's id), oldest first.

    Times are milliseconds since ``start`` (the order's placement), or since the first row."""
    logged = MessageLog.objects.filter(correlation_id=correlation_id)
    rows = list(logged.order_by("created_at", "id")[:MAX_ROWS])
    total = len(rows) if len(rows) < MAX_ROWS else logged.count()
    if not rows:
        return Timeline(correlation_id, (), total, 0)
    origin = start or rows[0].created_at
    return Timeline(correlation_id, tuple(timeline_steps(rows, start=origin)), total, len(rows))


def timeline_steps(rows: Sequence[MessageLog], *, start: datetime) -> list[TimelineStep]:
    """Group log rows into steps (``trace.build_trace``), nest them by causation, and flatten the
    tree depth first: each message comes right after the one whose handling sent it."""
    by_delivery = {_delivery_key(str(r.message_id), r.service, trace.ms_since(start, r.created_at)): r for r in rows}
    first_sent = {str(r.message_id): r for r in reversed(rows) if r.status == MessageLog.Status.SENT}
    labels = dict(MessageLog.Status.choices)
    out: list[TimelineStep] = []

    def visit(node: trace.Node, depth: int) -> None:
        step = node.step
        sent = first_sent.get(step.message_id) if step.sender is not None else None
        handlings = tuple(
            _handling(by_delivery[_delivery_key(step.message_id, d.service, d.at_ms)], d, labels)
            for d in step.deliveries
        )
        out.append(
            TimelineStep(
                message_id=step.message_id,
                kind=step.kind,
                name=step.name,
                sender=step.sender,
                route=step.route,
                sent_log_id=sent.pk if sent else None,
                sent_ms=step.sent_ms,
                publish_ms=sent.duration_ms if sent else None,
                depth=depth,
                handlings=handlings,
            )
        )
        for child in node.children:
            visit(child, depth + 1)

    for root in trace.causation_tree(trace.build_trace(rows, start=start)):
        visit(root, 0)
    return out


def _handling(row: MessageLog, delivery: trace.Delivery, labels: dict[str, str]) -> Handling:
    resent = delivery.status == MessageLog.Status.SENT  # a dead letter sent back: the log says "sent" again
    return Handling(
        log_id=row.pk,
        consumer=delivery.service,
        queue=delivery.route,
        status="sent again" if resent else labels.get(delivery.status, delivery.status),
        problem=delivery.status in trace.PROBLEMS,
        attempts=delivery.attempts,
        duration_ms=None if resent else delivery.duration_ms,
        at_ms=delivery.at_ms,
        did=row.route if resent else delivery.did,
    )


def _delivery_key(message_id: str, service: str, at_ms: float) -> tuple[str, str, float]:
    """How a trace delivery is matched to its log row: ``at_ms`` is computed from the row's
    own ``created_at`` by the same function, so it is equal, not merely close."""
    return (message_id, service, at_ms)
