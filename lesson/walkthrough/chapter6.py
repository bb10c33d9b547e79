"""Chapter 6: the outbox and at-least-once delivery.

Orders are placed while the broker refuses every message, three ways (messaging/kernel/outbound.py):
publishing inside the transaction, after commit, and through the outbox. Then the broker comes
back, the relay sweeps, and what reached inventory is counted. Finally one message is delivered
a second time, and each consumer's inbox skips it. If the fault tier has run, its table of real
outages, killed workers and duplicated messages follows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich import box
from rich.markup import escape
from rich.table import Table

from lesson.walkthrough import render
from lesson.walkthrough.context import Context, display_url
from lesson.walkthrough.fault_report import load, report_path, report_table, shown
from lesson.walkthrough.outage import PLACEMENT, WAYS, WayResult, place_during_outage, recover
from lesson.walkthrough.redelivery import Redelivery, redeliver
from lesson.walkthrough.scenarios import Scenario

TITLE = "The outbox and at-least-once delivery"
LEAD = (
    "A message must leave if and only if the change it announces commits. Three ways of sending are tried "
    "while the broker is down; only the outbox keeps every order and loses no message. Then a message "
    "arrives twice, as at-least-once delivery allows, and the inboxes skip the copy."
)

ORDERS_PER_WAY = 3
SCENARIO = Scenario("Ada", "a small order", "ada@example.com", (("PROD-D", 1),))


def run(ctx: Context) -> None:
    ctx.reset_catalog()
    ctx.console.print(_outage_label(ctx))
    # The broker goes down; orders are placed each way; then it comes back, once, for all of them.
    results = [place_during_outage(mode, way, SCENARIO, orders=ORDERS_PER_WAY) for mode in ctx.modes for way in WAYS]
    waiting = recover(results, timeout=ctx.settle_timeout)
    ctx.console.print(outage_table(results))
    render.notes(ctx.console, outage_insights(results, waiting))
    ctx.pause()

    redeliveries = []
    for mode in ctx.modes:
        outbox = next(r for r in results if r.mode == mode and r.way == "outbox")
        if outbox.accepted:
            again = redeliver(outbox.accepted[0], PLACEMENT[mode], sku=SCENARIO.items[0][0], timeout=ctx.settle_timeout)
            if again is not None:
                redeliveries.append((mode, again))
    for mode, again in redeliveries:
        ctx.console.print(redelivery_table(mode, again))
    ctx.pause()
    show_fault_report(ctx)


def _outage_label(ctx: Context) -> str:
    where = "memory://" if ctx.embedded else f"{display_url(ctx.broker_url)}, which keeps running"
    return (
        f"[bold]Simulated outage on {escape(where)}[/bold]: the composition root (messaging/bootstrap.py) is "
        "given a transport that refuses every message like a stopped broker (kombu OperationalError). "
        "[dim]`pytest -m faults` stops a real RabbitMQ/Redis.[/dim]"
    )


def outage_table(results: Sequence[WayResult]) -> Table:
    table = Table(
        title=f"{ORDERS_PER_WAY} orders per way, placed while the broker was down",
        caption="in outbox: messages pending when the broker came back · relayed: sent from the outbox once it "
        "was back · lost: accepted orders whose first message never reached inventory",
        box=box.ROUNDED,
    )
    table.add_column("mode", no_wrap=True)
    table.add_column("way", no_wrap=True)
    table.add_column("accepted", justify="right", no_wrap=True)
    table.add_column("refused", justify="right", no_wrap=True)
    table.add_column("the caller saw", ratio=1)
    for heading in ("in outbox", "relayed", "reached inventory", "lost"):
        table.add_column(heading, justify="right", no_wrap=True)
    for r in results:
        table.add_row(
            r.mode,
            escape(WAYS[r.way]),
            str(len(r.accepted)),
            str(r.refused),
            escape(caller_saw(r)),
            str(len(r.waiting_in_outbox)),
            str(r.published_when_back),
            str(r.reached_inventory),
            f"[bold red]{r.lost}[/]" if r.lost else "0",
        )
    return table


def caller_saw(r: WayResult) -> str:
    """What ``place_order`` told its caller, attempt by attempt, grouped."""
    seen = Counter(error or "no error" for error in r.caller_saw)
    text = "; ".join(f"{n} × {what}" for what, n in seen.items())
    if r.kept_despite_error:
        text += f", yet {r.kept_despite_error} of those orders were committed"
    return text


def outage_insights(results: Sequence[WayResult], waiting: Sequence[str]) -> list[str]:
    points = []
    for way, label in WAYS.items():
        rows = [r for r in results if r.way == way]
        accepted = sum(len(r.accepted) for r in rows)
        refused = sum(r.refused for r in rows)
        lost = sum(r.lost for r in rows)
        points.append(f"[b]{escape(label)}[/b]: accepted {accepted}, refused {refused}, lost {lost}.")
    if waiting:
        points.append(f"[red]Still waiting when counted: {escape(', '.join(waiting))}[/red]")
    points.append(
        "Inside the transaction, the broker's refusal rolls the order back (the shop is down with its broker). "
        "After commit, the order is kept, its messages are gone, and the caller is told it failed. "
        "The outbox keeps the order and its messages in one transaction; the relay sends them once the broker is back."
    )
    return points


def redelivery_table(mode: str, again: Redelivery) -> Table:
    took = "" if again.waited_s is None else f", every consumer saw it within {again.waited_s * 1000:.0f} ms"
    table = Table(
        title=f"{mode} mode: {again.name} {str(again.message_id)[:8]} delivered a second time{took}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("consumer", style="bold")
    table.add_column("first delivery")
    table.add_column("the copy")
    for consumer, first, second in again.consumers:
        table.add_row(consumer, first, second.replace("duplicate", "duplicate: skipped by the inbox"))
    for what, before, after in again.effects:
        table.add_row(f"[dim]{escape(what)}[/dim]", before, after + (" (unchanged)" if after == before else ""))
    return table


def show_fault_report(ctx: Context) -> None:
    try:
        report = load()
    except ValueError as exc:  # also a file being rewritten by a running fault tier
        ctx.console.print(f"[yellow]{escape(shown(report_path()))} could not be read: {escape(str(exc))}[/yellow]")
        return
    if report is None:
        ctx.console.print(
            f"[dim]{escape(shown(report_path()))} does not exist: `pytest -m faults` writes it after stopping real "
            "brokers and killing workers under load (orders, lost, double-applied, dead-lettered).[/dim]"
        )
        return
    ctx.console.print(report_table(report))
