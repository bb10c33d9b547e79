"""Chapter 4: event sourcing. An event-mode order's stream, its replay, and time travel; and a
command-mode order that went through the same changes and kept nothing but its last state.

Both orders are paid, packed and shipped through the lifecycle services (``orders.services``,
the same ones the API calls), so the stream has several events. Replay and time travel use
``orders.replay``, as ``manage.py replay_order ID --until-version N`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rich import box
from rich.markup import escape
from rich.table import Table

from core.eventstore import store
from lesson.walkthrough import render
from lesson.walkthrough.context import Context
from lesson.walkthrough.scenarios import Run, Scenario, play, require_progress, settle
from orders import services
from orders.management.commands.replay_order import stream_table
from orders.models import Order
from orders.replay import NoHistory, ReplayedState, audit, jsonable, state_of
from orders.rows import row_state
from orders.selectors import messages_caused_by

TITLE = "Event sourcing"
LEAD = (
    "Event mode appends every change of an order to its stream; the current state is a fold over it, and "
    "any earlier state a fold over its first N events. Command mode overwrites the row: the past is gone."
)

SCENARIO = Scenario("Ada", "a normal order, then paid, packed and shipped", "ada@example.com", (("PROD-A", 1),))
#: The lesson's own example: paid by card, packed in W2, shipped with DHL.
PAYMENT, WAREHOUSE, CARRIER = "card", "W2", "DHL"

HOW = {
    "command": "the row is overwritten at every change (orders/flows/commanding.py: progressed)",
    "event": "every change is appended to the order's stream (orders/flows/eventing.py: _record)",
}

#: The fields a time-travel row shows, as the reducer names them (orders/lifecycle.py).
FACTS = ("payment_method", "warehouse", "carrier", "tracking")


@dataclass
class History:
    """What one mode kept of an order that went through the same changes."""

    mode: str
    order: Order
    stored_events: int
    messages_for_progress: int  # messages pay/pack/ship caused
    status_before_payment: str  # or why it cannot be known
    replay_equals_row: str
    states: list[ReplayedState] = field(default_factory=list)  # one per version (event mode)
    #: The version to travel back to: the last one before ``order.paid`` (placed, fraud's
    #: verdict and confirmed, in the order they happened to arrive).
    before_payment: int = 0


def run(ctx: Context) -> None:
    histories = []
    for mode in ctx.modes:
        ctx.reset_catalog()
        render.mode_heading(ctx.console, mode, HOW[mode])
        played = play(SCENARIO, mode, timeout=ctx.settle_timeout)
        require_progress(played, ctx)
        history = progress_and_read_back(played, ctx)
        show(ctx, history)
        histories.append(history)
        ctx.pause()
    ctx.console.print()
    ctx.console.print(comparison_table(histories))
    render.notes(ctx.console, insights(histories))


def progress_and_read_back(played: Run, ctx: Context) -> History:
    """Pay, pack and ship the order (it is confirmed by now), wait for what that caused, and
    read back what the mode kept."""
    order = played.order
    sent_before = _sent(order)
    services.pay_order(order.id, method=PAYMENT)
    services.pack_order(order.id, warehouse=WAREHOUSE)
    services.ship_order(order.id, carrier=CARRIER, tracking=f"DHL-{str(order.id)[:8].upper()}")
    settle(played, timeout=ctx.settle_timeout)
    history = History(
        mode=played.mode,
        order=played.order,
        stored_events=store.stream_version(str(order.id)),
        messages_for_progress=_sent(order) - sent_before,
        status_before_payment="",
        replay_equals_row="",
    )
    try:
        whole, drifts = audit(played.order)
    except NoHistory as exc:
        history.status_before_payment = f"unknown: {exc.message}"
        history.replay_equals_row = "nothing to replay"
        return history
    history.states = [state_of(played.order, version) for version in range(1, whole.stream_version + 1)]
    history.before_payment = next(e.version for e in whole.events if e.type == "order.paid") - 1
    history.status_before_payment = str(history.states[history.before_payment - 1].state["status"])
    history.replay_equals_row = "yes" if not drifts else "no: " + ", ".join(d.field for d in drifts)
    return history


def _sent(order: Order) -> int:
    """Messages the order has caused so far, by any sender (the log's 'sent' rows)."""
    return messages_caused_by(order.id).filter(status="sent").count()


def show(ctx: Context, history: History) -> None:
    order = history.order
    if not history.states:
        ctx.console.print(row_table(order, replayed=None))
        ctx.console.print(
            f"Its row is all there is: {history.stored_events} stored events, and paying, packing and shipping "
            f"sent {history.messages_for_progress} messages.\n"
            f"[dim]python manage.py replay_order {order.id}[/dim] → {escape(history.status_before_payment)}"
        )
        return
    whole = history.states[-1]
    ctx.console.print(stream_table(whole, folded_until=whole.version))
    ctx.console.print(row_table(order, replayed=whole))
    ctx.console.print(time_travel_table(history.states))
    ctx.console.print(
        f"[dim]Same on the command line: python manage.py replay_order {order.id} "
        f"--until-version {history.before_payment}[/dim]"
    )


def row_table(order: Order, *, replayed: ReplayedState | None) -> Table:
    """The order row, next to the state replayed from its stream when there is one."""
    title = "the order row" if replayed is None else f"the order row, and the replay of all {replayed.version} events"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("row (overwritten in place)", ratio=1)
    if replayed is not None:
        table.add_column("replayed from the stream", ratio=1)
    row = jsonable(row_state(order))
    for name, value in row.items():
        cells = [_text(value)] if replayed is None else [_text(value), _text(replayed.state.get(name))]
        if any(cells):  # fields no change ever set (a hold reason, say) are left out
            table.add_row(name, *cells)
    return table


def _text(value: object) -> str:
    return "" if value in (None, "") else escape(str(value))


def time_travel_table(states: Sequence[ReplayedState]) -> Table:
    table = Table(title="time travel: the state after each version", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("version", justify="right", no_wrap=True)
    table.add_column("after", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("known by then", ratio=1)
    for replayed in states:
        event = replayed.events[-1]
        facts = " · ".join(f"{name}={replayed.state[name]}" for name in FACTS if replayed.state.get(name))
        table.add_row(str(replayed.version), event.type, str(replayed.state["status"]), escape(facts))
    return table


def comparison_table(histories: Sequence[History]) -> Table:
    table = Table(title="The same changes, two ways of keeping them", box=box.ROUNDED)
    table.add_column("", style="bold", no_wrap=True)
    for h in histories:
        table.add_column(f"{h.mode} mode", style=render.MODE_STYLE.get(h.mode, ""), ratio=1)
    rows: list[tuple[str, Callable[[History], str]]] = [
        ("order status now", lambda h: h.order.status),
        ("events in its stream", lambda h: str(h.stored_events)),
        ("messages sent by pay, pack, ship", lambda h: str(h.messages_for_progress)),
        ("status just before payment", lambda h: h.status_before_payment),
        ("replay of the stream equals the row", lambda h: h.replay_equals_row),
    ]
    for label, cell in rows:
        table.add_row(label, *[escape(cell(h)) for h in histories])
    return table


def insights(histories: Sequence[History]) -> list[str]:
    points = []
    for h in histories:
        if h.states:
            points.append(
                f"[b]{h.mode} mode[/b]: {h.stored_events} immutable events; folding all of them gives the row "
                f"({h.replay_equals_row}), folding the first {h.before_payment} gives the order as it was before "
                f"payment ({h.status_before_payment}). Debugging is replaying."
            )
        else:
            points.append(
                f"[b]{h.mode} mode[/b]: the row says {h.order.status} and that is all: no stream, and "
                f"{h.messages_for_progress} messages for pay, pack and ship. Debugging is tracing the request chain "
                "in the message log, while it is still there."
            )
    return points
