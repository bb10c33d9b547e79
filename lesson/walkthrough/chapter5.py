"""Chapter 5: CQRS. The write model (the order row and its stream) and the read model
(``readmodel.OrderSummary``, kept by the projector) are separate tables, updated at different
moments; the read model trails by the projection lag, and it can be dropped and rebuilt.

The lag is made visible, not staged: the order's messages wait in the outbox until the relay
sweeps, as they do between two runs of the relay process, and the chapter reads both models at
that moment and again once the projector has caught up.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.markup import escape
from rich.table import Table

from core.eventstore import store
from lesson.walkthrough import render
from lesson.walkthrough.context import Context
from lesson.walkthrough.readside import PAGE, QueryCost, dashboard_costs, outbox_held, snapshot, sweep_all
from lesson.walkthrough.scenarios import Run, Scenario, place, play, require_progress, settle
from lesson.walkthrough.waiting import wait_until
from messaging.kernel.outbound import pending as outbox_pending
from orders import services
from orders.models import Order
from readmodel import services as readmodel
from readmodel.models import OrderSummary
from readmodel.selectors import dashboard, lag, summary_for

TITLE = "CQRS"
LEAD = (
    "Writes go to the normalized write model; the dashboard reads a denormalized table the projector "
    "builds from the events. The read side trails the write side, and can be rebuilt from the store."
)

SCENARIO = Scenario("Grace", "an order, paid at once", "grace@example.com", (("PROD-B", 2),))

HOW = {
    "command": "one model: the order row is what is written and what is read",
    "event": "the projector turns the events into OrderSummary rows (readmodel/)",
}


@dataclass(frozen=True)
class Moment:
    """Both models read at one moment."""

    label: str
    write_status: str
    stream_version: int
    read_status: str  # the summary's status, or why there is none
    pending_events: int  # the projection lag
    outbox: int  # messages not published yet


@dataclass(frozen=True)
class Rebuilt:
    rows_before: int
    rows_after: int
    identical: bool
    events: int
    streams: int
    seconds: float


def run(ctx: Context) -> None:
    ctx.reset_catalog()
    for mode in ctx.modes:
        render.mode_heading(ctx.console, mode, HOW[mode])
        if mode == "event":
            show_event_mode(ctx)
        else:
            show_command_mode(ctx)
        ctx.pause()
    ctx.console.print()
    ctx.console.print(costs_table(dashboard_costs()))


def show_event_mode(ctx: Context) -> None:
    moments, caught_up_s = lag_in_action(ctx)
    ctx.console.print(moments_table(moments, caught_up_s))
    ctx.console.print(dashboard_table())
    rebuilt = rebuild_and_compare()
    ctx.console.print(rebuild_table(rebuilt))
    render.notes(ctx.console, event_insights(moments, caught_up_s, rebuilt))


def lag_in_action(ctx: Context) -> tuple[list[Moment], float | None]:
    """Place and pay an order while its messages wait in the outbox, read both models; let the
    relay publish, and read them again once the projector has applied what was written."""
    with outbox_held() as relay:
        order = place(SCENARIO, "event")
        services.pay_order(order.id, method="card")
    moments = [read_both("placed and paid; the relay has not published yet", order)]
    started = time.monotonic()
    sent = sweep_all(relay)
    caught_up = wait_until(lambda: _summary_status(order) == "paid", timeout=ctx.settle_timeout)
    caught_up_s = None if caught_up is None else time.monotonic() - started
    moments.append(read_both(f"the relay published {sent} messages; the summary shows the payment", order))
    played = settle(Run(SCENARIO, "event", order), timeout=ctx.settle_timeout)
    require_progress(played, ctx)
    moments.append(read_both("everything the order caused has been handled", played.order))
    return moments, caught_up_s


def read_both(label: str, order: Order) -> Moment:
    order.refresh_from_db()
    return Moment(
        label=label,
        write_status=order.status,
        stream_version=store.stream_version(str(order.id)),
        read_status=_summary_status(order) or "no summary yet",
        pending_events=int(lag()["pending_events"]),
        outbox=outbox_pending(),
    )


def _summary_status(order: Order) -> str:
    summary = summary_for(order.id)
    return summary.status if summary is not None else ""


def rebuild_and_compare() -> Rebuilt:
    before = snapshot()
    report = readmodel.rebuild()
    after = snapshot()
    return Rebuilt(len(before), len(after), before == after, report.events, report.streams, report.seconds)


def show_command_mode(ctx: Context) -> None:
    played = play(SCENARIO, "command", timeout=ctx.settle_timeout)
    require_progress(played, ctx)
    services.pay_order(played.order.id, method="card")
    summaries = OrderSummary.objects.filter(order_id=played.order.id).count()
    ctx.console.print(
        f"Order {str(played.order.id)[:8]} is {played.order.status}, then paid: the order row changed in place. "
        f"Order summaries for it: {summaries}. Command mode has no read model to lag, and no events to "
        "rebuild one from: the dashboard would read the write model (table below)."
    )


def moments_table(moments: Sequence[Moment], caught_up_s: float | None) -> Table:
    waited = (
        "did not catch up in time"
        if caught_up_s is None
        else f"caught up {caught_up_s * 1000:.0f} ms after the relay ran"
    )
    table = Table(title=f"write model vs read model ({waited})", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("moment", ratio=1)
    table.add_column("order row", no_wrap=True)
    table.add_column("stream version", justify="right", no_wrap=True)
    table.add_column("order summary", no_wrap=True)
    table.add_column("lag (events)", justify="right", no_wrap=True)
    table.add_column("in the outbox", justify="right", no_wrap=True)
    for m in moments:
        table.add_row(
            escape(m.label), m.write_status, str(m.stream_version), m.read_status, str(m.pending_events), str(m.outbox)
        )
    return table


def dashboard_table() -> Table:
    current = lag()
    title = (
        f"the dashboard (GET /api/dashboard), newest {min(PAGE, 5)} of {OrderSummary.objects.count()} · lag: head "
        f"position {current['head_position']}, applied {current['applied_position']}, "
        f"{current['pending_events']} pending"
    )
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("order", "customer", "lines", "total", "status", "flagged", "placed at"):
        table.add_column(name, no_wrap=True)
    for row in dashboard()[:5]:
        table.add_row(
            str(row.order_id)[:8],
            escape(row.customer_name),
            str(row.item_count),
            f"{row.total} {row.currency}",
            row.status,
            "yes" if row.flagged else "",
            row.placed_at.isoformat(timespec="seconds") if row.placed_at else "",
        )
    return table


def rebuild_table(r: Rebuilt) -> Table:
    table = Table(
        title="rebuild: drop the read model, replay the store (manage.py rebuild_projections)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("summaries before", justify="right")
    table.add_column("after", justify="right")
    table.add_column("identical, field by field")
    table.add_column("events replayed", justify="right")
    table.add_column("streams", justify="right")
    table.add_column("seconds", justify="right")
    table.add_row(
        str(r.rows_before),
        str(r.rows_after),
        "yes" if r.identical else "NO",
        str(r.events),
        str(r.streams),
        f"{r.seconds:.2f}",
    )
    return table


def costs_table(costs: Sequence[QueryCost]) -> Table:
    table = Table(title=f"one dashboard page ({PAGE} rows), as the database saw it", box=box.ROUNDED)
    for name in ("read from", "rows", "queries", "joins", "tables"):
        table.add_column(name)
    for c in costs:
        table.add_row(escape(c.source), str(c.rows), str(c.queries), str(c.joins), ", ".join(c.tables))
    return table


def event_insights(moments: Sequence[Moment], caught_up_s: float | None, rebuilt: Rebuilt) -> list[str]:
    first = moments[0]
    points = [
        f"Strongly consistent: the order row said [b]{first.write_status}[/b] at once (stream at version "
        f"{first.stream_version}). Eventually consistent: the read model said [b]{first.read_status}[/b], "
        f"{first.pending_events} events behind, while {first.outbox} messages waited in the outbox.",
    ]
    if caught_up_s is not None:
        points.append(
            f"Once published, the projector caught up in {caught_up_s * 1000:.0f} ms; "
            f"the lag is now {moments[-1].pending_events}."
        )
    verdict = (
        "the same rows, field by field" if rebuilt.identical else "DIFFERENT rows: the projection is not deterministic"
    )
    points.append(
        f"Rebuilding replayed {rebuilt.events} events into {rebuilt.rows_after} summaries "
        f"in {rebuilt.seconds:.2f} s: {verdict}."
    )
    return points
