"""Chapter 3: analytics fails on purpose, and the mode decides who hears of it.

Command mode: every command carries a return address (decision 1 in docs/decisions.md), so when
analytics gives up on ``analytics.record`` the failure travels back to orders as
``orders.note_failure``, and orders records it. Event mode: analytics retries ``order.confirmed``,
then dead-letters its own copy; orders and the other subscribers never notice. Everything below
is read back from the message log, the outbox, ``FailedCommand`` and ``DeadLetter``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from rich import box
from rich.markup import escape
from rich.table import Table

from analytics.models import MetricRecord
from core.models import DeadLetter, InjectedFault, OutboxMessage
from lesson.walkthrough import render
from lesson.walkthrough.context import Context
from lesson.walkthrough.scenarios import Run, Scenario, play, require_progress
from lesson.walkthrough.summary import PRODUCER
from notifications.models import SentEmail
from orders.models import FailedCommand

TITLE = "Failure responsibility"
LEAD = (
    "Analytics is made to fail on every try. A command's failure belongs to its sender, which asked to be "
    "told; an event's failure belongs to the subscriber that failed, and nobody else hears of it."
)

#: The consumer that fails, and the message it fails on in each mode.
CONSUMER = "analytics"
FAILING = {"command": "analytics.record", "event": "order.confirmed"}
ERROR = "analytics is down"

SCENARIO = Scenario("Ada", "a normal order, while analytics fails on every try", "ada@example.com", (("PROD-A", 1),))

HOW = {
    "command": f"analytics fails on the command {FAILING['command']}, which orders sent it",
    "event": f"analytics fails on the event {FAILING['event']}, which orders published for whoever listens",
}


@contextmanager
def injected_fault(service: str, message_type: str, *, error: str) -> Iterator[InjectedFault]:
    """Arm a fault for one consumer (messaging/operations/faults.py reads it), and always remove it,
    and only it: faults someone set up in the admin stay."""
    fault = InjectedFault.objects.create(service=service, message_type=message_type, error=error)
    try:
        yield fault
    finally:
        InjectedFault.objects.filter(pk=fault.pk).delete()


class _DropExpected(logging.Filter):
    """Hides the warning the injected failure is expected to cause: the tables below show it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return ERROR not in record.getMessage()


@contextmanager
def _expected_warnings_hidden() -> Iterator[None]:
    messaging, expected = logging.getLogger("shop.messaging"), _DropExpected()
    messaging.addFilter(expected)
    try:
        yield
    finally:
        messaging.removeFilter(expected)


@dataclass(frozen=True)
class Noticed:
    """Who heard of the failure in one mode, as the log and the database recorded it."""

    mode: str
    failing: str
    route: str  # where the failing consumer took the message from
    attempts: int
    return_address: str  # the on_failure command the message carried, or ""
    producer_heard: list[str]  # messages about the failure that orders handled
    failed_commands: list[str]  # FailedCommand rows orders wrote for the order
    dead_letters: list[str]  # DeadLetter rows for the failing message
    same_message_handled_by: list[str]  # other consumers of the very message that failed
    carried_on: list[str]  # every other service that handled something for the order
    order_status: str
    emails: int
    metrics: int
    faults_left: int


def run(ctx: Context) -> None:
    outcomes = []
    for mode in ctx.modes:
        ctx.reset_catalog()
        render.mode_heading(ctx.console, mode, HOW[mode])
        with _expected_warnings_hidden(), injected_fault(CONSUMER, FAILING[mode], error=ERROR):
            played = play(SCENARIO, mode, timeout=ctx.settle_timeout)
        render.show_run(ctx.console, played)
        require_progress(played, ctx)
        outcomes.append(who_noticed(played, FAILING[mode]))
        ctx.pause()
    ctx.console.print()
    ctx.console.print(noticed_table(outcomes))
    render.notes(ctx.console, insights(outcomes))


def who_noticed(played: Run, failing: str) -> Noticed:
    steps = [s for s in played.steps if s.name == failing]
    ids = [s.message_id for s in steps]
    failures = [d for s in steps for d in s.deliveries if d.service == CONSUMER]
    order = played.order
    envelopes = OutboxMessage.objects.filter(id__in=ids).values_list("envelope", flat=True)
    addresses = {(e.get("reply_to") or {}).get("on_failure") or "" for e in envelopes}
    return Noticed(
        mode=played.mode,
        failing=failing,
        route=failures[-1].route if failures else "?",
        attempts=max((d.attempts for d in failures), default=0),
        return_address=", ".join(sorted(a for a in addresses if a)),
        producer_heard=[
            f"{s.name} from {s.sender}" for s in played.steps if s.sender == CONSUMER and PRODUCER in s.handlers
        ],
        failed_commands=[f"{f.command}: {f.error}" for f in FailedCommand.objects.filter(order=order)],
        dead_letters=[
            f"{d.consumer} on {d.source}, {d.attempts} tries: {d.reason}"
            for d in DeadLetter.objects.filter(message_id__in=ids)
        ],
        same_message_handled_by=sorted(
            {d.service for s in steps for d in s.deliveries if d.service != CONSUMER and d.status == "handled"}
        ),
        carried_on=sorted(
            {
                d.service
                for s in played.steps
                for d in s.deliveries
                if d.service not in (CONSUMER, PRODUCER) and d.status == "handled"
            }
        ),
        order_status=order.status,
        emails=SentEmail.objects.filter(order_id=order.id).count(),
        metrics=MetricRecord.objects.filter(order_id=order.id).count(),
        faults_left=InjectedFault.objects.filter(service=CONSUMER, message_type=failing, error=ERROR).count(),
    )


def noticed_table(outcomes: Sequence[Noticed]) -> Table:
    table = Table(title="Who noticed analytics failing", box=box.ROUNDED)
    table.add_column("", style="bold", no_wrap=True)
    for n in outcomes:
        table.add_column(f"{n.mode} mode", style=render.MODE_STYLE.get(n.mode, ""), ratio=1)
    rows: list[tuple[str, Callable[[Noticed], str]]] = [
        ("failing consumer", lambda n: f"{CONSUMER} on {n.failing} (from {n.route})"),
        ("tries before it gave up", lambda n: str(n.attempts)),
        ("return address on the message", lambda n: n.return_address or "none: an event names no one to tell"),
        (f"what {PRODUCER} heard", lambda n: "; ".join(n.producer_heard) or "nothing"),
        (f"failures {PRODUCER} recorded", lambda n: "; ".join(n.failed_commands) or "none"),
        ("dead letters", lambda n: "; ".join(n.dead_letters) or "none: the failure went back to its sender"),
        (
            "same message, other consumers",
            lambda n: ", ".join(n.same_message_handled_by) or "none: one command, one consumer",
        ),
        ("services that carried on", lambda n: ", ".join(n.carried_on) or "none"),
        ("the order", lambda n: f"{n.order_status}, {n.emails} e-mail(s), {n.metrics} analytics rows"),
        ("injected fault left behind", lambda n: str(n.faults_left)),
    ]
    for label, cell in rows:
        table.add_row(label, *[escape(cell(n)) for n in outcomes])
    return table


def insights(outcomes: Sequence[Noticed]) -> list[str]:
    points = []
    for n in outcomes:
        if n.producer_heard:
            points.append(
                f"[b]{n.mode} mode[/b]: {PRODUCER} put a return address on {n.failing} "
                f"({escape(n.return_address)}); after {n.attempts} tries the failure came back to it, and {PRODUCER} "
                f"recorded it ({len(n.failed_commands)} FailedCommand row). What to do about it is now {PRODUCER}' job."
            )
        else:
            points.append(
                f"[b]{n.mode} mode[/b]: {PRODUCER} heard nothing. {CONSUMER} retried {n.attempts} times and "
                f"dead-lettered its own copy ({len(n.dead_letters)} DeadLetter row: retry it from the admin or "
                f"`manage.py deadletters retry`); {', '.join(n.same_message_handled_by) or 'no one else'} handled "
                "the same event as if nothing happened."
            )
    points.append(
        "Either way the order went on without analytics: "
        + "; ".join(f"{n.mode}: {n.order_status}, {n.emails} e-mail(s), {n.metrics} analytics rows" for n in outcomes)
        + "."
    )
    return points
