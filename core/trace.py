"""Turn an order's message-log rows into a trace: pure functions, no database access.

The message log has one ``sent`` row per message (``service`` = the sender) and one row per
service that handled it (``service`` = that consumer). Pairing them by ``message_id`` gives one
step per message with its deliveries: a command has exactly one, an event has one per
subscribing service. That one-to-many is the fanout the walkthrough shows.

Each row also names the message that caused it (``causation_id``): ``causation_tree`` nests the
steps by it, so the web walkthrough can draw which message led to which.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

SENT = "sent"
#: Statuses a consumer writes once it is done with a message (retries happen before any row).
FINAL = frozenset({"handled", "failed", "dead_lettered", "duplicate"})
PROBLEMS = frozenset({"failed", "dead_lettered"})


class LogRow(Protocol):
    """What the trace reads from a ``core.models.MessageLog`` row."""

    message_id: Any
    name: str
    kind: str
    service: str
    route: str
    status: str
    attempts: int
    error: str
    outcome: Any
    created_at: datetime


@dataclass(frozen=True)
class Delivery:
    """One service's handling of a message."""

    service: str
    route: str
    status: str
    at_ms: float
    attempts: int
    did: str
    duration_ms: float | None = None  # how long the handler ran (the log's duration_ms)


@dataclass(frozen=True)
class Step:
    """One message: who sent it, through what, and every service that handled it."""

    message_id: str
    name: str
    kind: str
    sender: str | None  # None: the log has no 'sent' row (e.g. a message from outside)
    route: str
    sent_ms: float | None
    deliveries: tuple[Delivery, ...]
    causation_id: str = ""  # the id of the message whose handling sent this one; "" for a root

    @property
    def first_ms(self) -> float:
        times = [d.at_ms for d in self.deliveries]
        if self.sent_ms is not None:
            times.append(self.sent_ms)
        return min(times) if times else 0.0

    @property
    def handlers(self) -> list[str]:
        return sorted({d.service for d in self.deliveries})


def ms_since(start: datetime, at: datetime) -> float:
    return (at - start).total_seconds() * 1000


def build_trace(rows: Iterable[LogRow], *, start: datetime) -> list[Step]:
    """Group log rows into steps, ordered by when each message first shows up in the log."""
    sent: dict[str, LogRow] = {}
    handled: dict[str, list[LogRow]] = {}
    order: list[str] = []
    for row in rows:
        key = str(row.message_id)
        if key not in sent and key not in handled:
            order.append(key)
        if row.status == SENT and key not in sent:
            sent[key] = row
        else:
            handled.setdefault(key, []).append(row)
    steps = [_step(key, sent.get(key), handled.get(key, []), start) for key in order]
    return sorted(steps, key=lambda s: s.first_ms)


def _step(key: str, sent: LogRow | None, handled: list[LogRow], start: datetime) -> Step:
    first = sent or handled[0]
    deliveries = tuple(
        Delivery(
            service=row.service,
            route=row.route,
            status=row.status,
            at_ms=ms_since(start, row.created_at),
            attempts=row.attempts,
            did=describe(row.kind, row.status, row.outcome, row.error),
            duration_ms=_optional(row, "duration_ms", None),
        )
        for row in sorted(handled, key=lambda r: r.created_at)
    )
    return Step(
        message_id=key,
        name=first.name,
        kind=first.kind,
        sender=sent.service if sent else None,
        route=sent.route if sent else "",
        sent_ms=ms_since(start, sent.created_at) if sent else None,
        deliveries=deliveries,
        causation_id=str(_optional(first, "causation_id", "") or ""),
    )


def _optional(row: LogRow, name: str, default: Any) -> Any:
    """A column ``LogRow`` does not require (rows from older callers may lack it)."""
    return getattr(row, name, default)


def describe(kind: str, status: str, outcome: Any, error: str) -> str:
    """A one-line 'what it did' for a handled row: the error, the event notes, or the result."""
    if status in PROBLEMS:
        return error or status
    if status == "duplicate":
        return "already handled: skipped (inbox)"
    if kind == "event":
        did = outcome.get("did", []) if isinstance(outcome, dict) else []
        return "; ".join(str(d) for d in did) or "nothing to do"
    return compact(outcome) if outcome else "done (returned nothing)"


def compact(value: Any) -> str:
    """Render a handler's result dict compactly: ``items=[(product_id=1, quantity=2)]``.

    Keys are sorted: PostgreSQL's jsonb does not keep the order they were written in."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={_inner(v)}" for k, v in sorted(value.items()))
    return _inner(value)


def _inner(value: Any) -> str:
    if isinstance(value, dict):
        return "(" + compact(value) + ")"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_inner(v) for v in value) + "]"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@dataclass(frozen=True)
class Node:
    """A step and the steps its handling caused: one branch of the causation tree."""

    step: Step
    children: tuple[Node, ...] = ()


def causation_tree(steps: Sequence[Step]) -> list[Node]:
    """Nest steps under the step that caused them, keeping the order of ``steps`` among siblings.

    A step whose cause is not in ``steps`` (the order placed over HTTP, or a message whose
    parent was logged under another correlation id) is a root. Every step appears exactly once,
    even if bad data made the causation ids loop.
    """
    known = {step.message_id for step in steps}
    children: dict[str, list[Step]] = {}
    roots: list[Step] = []
    for step in steps:
        parent = step.causation_id
        if parent in known and parent != step.message_id:
            children.setdefault(parent, []).append(step)
        else:
            roots.append(step)
    placed: set[str] = set()

    def grow(step: Step) -> Node:
        placed.add(step.message_id)
        kids = [grow(child) for child in children.get(step.message_id, []) if child.message_id not in placed]
        return Node(step, tuple(kids))

    tree = [grow(step) for step in roots]
    # Only a loop (a caused b caused a) leaves steps unplaced: show them as roots, not drop them.
    tree += [grow(step) for step in steps if step.message_id not in placed]
    return tree


def pending(steps: Sequence[Step], subscribers: Mapping[str, Sequence[str]]) -> list[str]:
    """What the log still waits for: a command without its one handler, or an event some
    subscriber (per ``subscribers``: event name -> services) has not handled yet."""
    waiting = []
    for step in steps:
        if step.sender is None:
            continue
        done = {d.service for d in step.deliveries if d.status in FINAL}
        if step.kind == "event":
            missing = sorted(set(subscribers.get(step.name, ())) - done)
            waiting += [f"{step.name} → {service}" for service in missing]
        elif not done:
            waiting.append(f"{step.name} → its handler")
    return waiting


@dataclass(frozen=True)
class Line:
    """One table row: a delivery, or a message nobody handled (yet)."""

    sent_ms: float | None
    sender: str
    kind: str
    name: str
    via: str
    to: str
    done_ms: float | None
    status: str
    did: str = ""
    repeat: bool = False  # same message as the line above (the 2nd, 3rd... copy of an event)


def lines(steps: Sequence[Step]) -> list[Line]:
    out: list[Line] = []
    for step in steps:
        sender = step.sender or "?"
        if not step.deliveries:
            out.append(
                Line(step.sent_ms, sender, step.kind, step.name, step.route, "nobody (yet)", None, "not handled")
            )
        for index, d in enumerate(step.deliveries):
            via = f"{step.route or '?'} → {d.route}" if step.kind == "event" else step.route or f"queue {d.route}"
            status = d.status.replace("_", "-") + (f" ({d.attempts} tries)" if d.attempts > 1 else "")
            out.append(
                Line(step.sent_ms, sender, step.kind, step.name, via, d.service, d.at_ms, status, d.did, index > 0)
            )
    return out
