"""Rich output for the walkthrough. Everything shown comes from a Run (the log and the database)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from core.trace import Line, lines
from lesson.walkthrough.scenarios import Run
from lesson.walkthrough.summary import PRODUCER, ModeSummary

KIND_LABEL = {"command": ("CMD", "bold yellow"), "event": ("EVT", "bold cyan")}
STATUS_STYLE = {"confirmed": "green", "on_hold": "yellow", "cancelled": "red", "placed": "blue"}
DELIVERY_STYLE = {"handled": "green", "failed": "red", "dead-lettered": "red", "duplicate": "yellow"}
MODE_STYLE = {"command": "yellow", "event": "cyan"}


def chapter_heading(console: Console, number: int, title: str, lead: str) -> None:
    console.print()
    console.rule(f"[bold]Chapter {number} · {escape(title)}[/bold]")
    if lead:
        console.print(Text(lead, style="italic"))
    console.print()


def mode_heading(console: Console, mode: str, explanation: str) -> None:
    console.print()
    console.rule(f"[{MODE_STYLE.get(mode, 'white')}]{mode} mode[/] · {escape(explanation)}", align="left")


def order_panel(run: Run) -> Panel:
    order = run.order
    status = order.status
    items = ", ".join(
        f"{line.quantity} × {line.sku} {line.product.name}" for line in order.lines.select_related("product")
    )
    body = Text()
    body.append(f"{order.customer.name} <{order.customer.email}> ordered {items}, total {order.total}\n")
    body.append("status: ").append(status, style=f"bold {STATUS_STYLE.get(status, 'white')}")
    if order.risk_score is not None:
        body.append(f" · risk score {order.risk_score}")
    if order.hold_reason:
        body.append(f" · held: {order.hold_reason}")
    if order.cancel_reason:
        body.append(f" · cancelled: {order.cancel_reason}")
    body.append("\n")
    sent = sum(1 for s in run.steps if s.sender is not None)
    handled = sum(len(s.deliveries) for s in run.steps)
    if run.timed_out:
        body.append(
            f"TIMED OUT after {run.waited_s:.1f} s, still waiting for: {', '.join(run.waiting_for)}", style="bold red"
        )
    else:
        body.append(f"{sent} messages sent, {handled} handled; settled after {run.waited_s:.1f} s", style="dim")
    title = (
        f"[{MODE_STYLE.get(run.mode, 'white')}]{run.mode} mode[/] · {escape(run.scenario.title)} · "
        f"order {str(order.id)[:8]} · [{STATUS_STYLE.get(status, 'white')}]{status}[/]"
    )
    return Panel(body, title=title, title_align="left", border_style=MODE_STYLE.get(run.mode, "white"))


#: Below this width "via" moves into the "what it did" cell, so what each service did stays readable.
WIDE = 140


def trace_table(run: Run, *, width: int = 160) -> Table:
    wide = width >= WIDE
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False, expand=True, show_edge=False)
    table.add_column("t+ms", justify="right", no_wrap=True)
    table.add_column("from", no_wrap=True)
    table.add_column("message", no_wrap=True)
    if wide:
        table.add_column("via", no_wrap=True)
    table.add_column("to", no_wrap=True)
    table.add_column("done", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("what it did" if wide else "via / what it did", ratio=1)
    for line in lines(run.steps):
        table.add_row(*_cells(line, wide))
    return table


def _cells(line: Line, wide: bool) -> list[Text | str]:
    label, style = KIND_LABEL.get(line.kind, (line.kind, ""))
    message = Text.assemble((label, style), " ", (line.name, "bold"))
    sender = Text(line.sender, style="bold" if line.sender == PRODUCER else "")
    if line.repeat:  # another copy of the same event: the fanout
        message = Text.assemble(("  └─ same ", "dim"), (label, style))
        sender = Text("")
    status_style = DELIVERY_STYLE.get(line.status.split(" ")[0], "yellow")
    did = Text(line.did, style="red" if status_style == "red" else "")
    if not wide:
        did = Text.assemble((line.via, "dim"), "\n", did)
    cells: list[Text | str] = ["" if line.repeat else _ms(line.sent_ms), sender, message]
    if wide:
        cells.append(line.via)
    return [*cells, Text(line.to, style="bold"), _ms(line.done_ms), Text(line.status, style=status_style), did]


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def show_run(console: Console, run: Run) -> None:
    console.print(order_panel(run))
    console.print(trace_table(run, width=console.width))


def comparison_table(summaries: Sequence[ModeSummary]) -> Table:
    table = Table(title="Same orders, two ways: what the message log and the database say", box=box.ROUNDED)
    table.add_column("", style="bold", no_wrap=True)
    for s in summaries:
        table.add_column(f"{s.mode} mode", style=MODE_STYLE.get(s.mode, ""), ratio=1)
    rows: list[tuple[str, Callable[[ModeSummary], str]]] = [
        (f"messages {PRODUCER} sent, per order", lambda s: " · ".join(f"{t} {n}" for t, n in s.sent_by_producer)),
        (f"what {PRODUCER} sent", lambda s: ", ".join(s.producer_names)),
        (f"consumers {PRODUCER} addressed by name", _addressed),
        (f"services that handled {PRODUCER}' messages", lambda s: ", ".join(s.reached) or "none"),
        ("messages in total (all senders)", lambda s: str(s.total_messages)),
        ("end state", lambda s: " · ".join(f"{t} {status}" for t, status in s.end_state)),
        ("emails sent", lambda s: ", ".join(f"{n} × {t}" for t, n in s.emails.items()) or "none"),
        ("analytics recorded", lambda s: ", ".join(f"{k} {_num(v)}" for k, v in s.metrics.items()) or "nothing"),
    ]
    for label, cell in rows:
        table.add_row(label, *[cell(s) for s in summaries])
    if any(s.timeouts for s in summaries):
        table.add_row("timed out", *[Text(str(s.timeouts), style="bold red") for s in summaries])
    return table


def _num(value: Decimal) -> str:
    return f"{value:.0f}" if value == value.to_integral_value() else f"{value:.2f}"


def _addressed(s: ModeSummary) -> str:
    if not s.addressed:
        return "none (it published to the exchange; subscribers chose to listen)"
    return ", ".join(f"{service} (via {name})" for name, service in s.addressed)


def notes(console: Console, points: Sequence[str]) -> None:
    body = Group(*[Text.from_markup(f"• {p}") for p in points])
    console.print(Panel(body, title="What the log shows", title_align="left", border_style="green"))
