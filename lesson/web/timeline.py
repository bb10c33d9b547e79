"""An order's timeline as the page draws it: the causation tree of the messages it caused.

Read-only (a selector): the message log rows of the order, grouped into steps by
``core.trace`` and nested by causation, with what each consuming service did and
which subscribers have not answered yet. The page polls this until ``settled``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from core.models import MessageLog
from core.trace import FINAL, Node, Step, build_trace, causation_tree, pending
from lesson.web import links
from messaging.kernel.subscriptions import table
from orders.models import Order

#: Settled: nothing pending and no new log row for this long. A handler's follow-up message is
#: logged when it is published, just after the handler's own row, so "nothing pending" alone
#: can be true for an instant in the middle of a flow.
QUIET = timedelta(seconds=1.5)
#: After this long the page stops polling and says what is still missing (no worker running?).
GIVE_UP = timedelta(seconds=60)


@dataclass(frozen=True)
class Progress:
    settled: bool
    gave_up: bool
    waiting_for: list[str]


def order_timeline(order_id: uuid.UUID, *, now: datetime | None = None) -> dict[str, Any] | None:
    """The JSON the page polls, or None when there is no such order."""
    order = Order.objects.select_related("customer").filter(pk=order_id).first()
    if order is None:
        return None
    rows = list(MessageLog.objects.filter(correlation_id=str(order.id)).order_by("created_at", "id"))
    steps = build_trace(rows, start=order.placed_at)
    subscribers = table()
    progress = judge(steps, rows, placed_at=order.placed_at, now=now or timezone.now(), subscribers=subscribers)
    return {
        "order": order_json(order),
        "settled": progress.settled,
        "gave_up": progress.gave_up,
        "waiting_for": progress.waiting_for,
        "message_count": len(steps),
        "delivery_count": sum(len(step.deliveries) for step in steps),
        "sent_by": sent_by(steps),
        "tree": [node_json(node, subscribers) for node in causation_tree(steps)],
        "links": {
            "order": links.order_change(order.id),
            "messages": links.message_log(str(order.id)),
            "dead_letters": links.dead_letters(dead_lettered(steps)) if dead_lettered(steps) else None,
        },
    }


def judge(
    steps: list[Step],
    rows: list[MessageLog],
    *,
    placed_at: datetime,
    now: datetime,
    subscribers: dict[str, list[str]],
) -> Progress:
    waiting = pending(steps, subscribers)
    last = max((row.created_at for row in rows), default=placed_at)
    settled = bool(steps) and not waiting and now - last >= QUIET
    gave_up = not settled and now - placed_at >= GIVE_UP
    if not steps and not settled:
        waiting = ["the order's first message (is the outbox relay or the fast path publishing?)"]
    return Progress(settled=settled, gave_up=gave_up, waiting_for=waiting)


def sent_by(steps: list[Step]) -> dict[str, int]:
    """How many messages each service sent: in command mode orders sends one per consumer."""
    counts: dict[str, int] = {}
    for step in steps:
        if step.sender is not None:
            counts[step.sender] = counts.get(step.sender, 0) + 1
    return dict(sorted(counts.items()))


def dead_lettered(steps: list[Step]) -> list[str]:
    return [step.message_id for step in steps if any(d.status == "dead_lettered" for d in step.deliveries)]


def order_json(order: Order) -> dict[str, Any]:
    return {
        "id": str(order.id),
        "short_id": str(order.id)[:8],
        "mode": order.mode,
        "status": order.status,
        "status_label": order.get_status_display(),
        "total": str(order.total),
        "customer": order.customer.name,
        "placed_at": order.placed_at.isoformat(),
        "admin_url": links.order_change(order.id),
    }


def node_json(node: Node, subscribers: dict[str, list[str]]) -> dict[str, Any]:
    step = node.step
    return {
        "message_id": step.message_id,
        "name": step.name,
        "kind": step.kind,
        "sender": step.sender,
        "route": step.route,
        "sent_ms": _ms(step.sent_ms),
        "caused_by": step.causation_id or None,
        "deliveries": [
            {
                "service": d.service,
                "route": d.route,
                "status": d.status,
                "attempts": d.attempts,
                "duration_ms": _ms(d.duration_ms),
                "at_ms": _ms(d.at_ms),
                "did": d.did,
            }
            for d in step.deliveries
        ],
        "waiting_on": waiting_on(step, subscribers),
        "children": [node_json(child, subscribers) for child in node.children],
    }


def waiting_on(step: Step, subscribers: dict[str, list[str]]) -> list[str]:
    """Who has not finished with this message yet: the subscribers of an event that have no final
    row, or, for a command nobody handled, the queue it waits in."""
    if step.sender is None:
        return []
    done = {d.service for d in step.deliveries if d.status in FINAL}
    if step.kind == "event":
        return sorted(set(subscribers.get(step.name, ())) - done)
    return [] if done else [step.route or "its handler"]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
