"""Chapter 7: the lesson's two comparison tables, every cell measured.

The cells come from ``lesson.evidence.tables.comparison_tables()``: the static analysis of this
repository's code plus what the database recorded during the run (the earlier chapters' orders).
Run alone (``--chapter 7``), it first places one order in each selected mode that has none in
this run yet, so that there is something to measure.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import timezone
from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lesson.evidence.model import Cell, TableRow
from lesson.evidence.tables import comparison_tables
from lesson.walkthrough import render
from lesson.walkthrough.context import Context
from lesson.walkthrough.scenarios import Scenario, play, require_progress
from orders.models import Order

TITLE = "The two comparison tables"
LEAD = (
    "The lesson's tables, with every cell measured: from the code (syntax trees and imports) and from what "
    "this run's orders left in the message log, the event store and the read model."
)

TABLES = {
    1: ("Command-based vs event-based messaging", ("Command-based", "Event-based")),
    2: ("Queue-based vs event-driven architecture", ("Queue-based (commands)", "Event-driven")),
}
#: When this process started the walkthrough (imported with the command): orders placed since
#: then are this run's.
STARTED = timezone.now()
SCENARIO = Scenario("Ada", "one order to measure", "ada@example.com", (("PROD-A", 1),))
#: How many source locations a cell lists before "and N more".
SHOWN_SOURCES = 3


def run(ctx: Context) -> None:
    missing = [mode for mode in ctx.modes if not Order.objects.filter(mode=mode, placed_at__gte=STARTED).exists()]
    if missing:
        ctx.reset_catalog()
        for mode in missing:
            ctx.console.print(f"[dim]No {mode}-mode order in this run yet: placing one to measure.[/dim]")
            played = play(SCENARIO, mode, timeout=ctx.settle_timeout)
            require_progress(played, ctx)
    rows = comparison_tables()
    for number, (title, columns) in TABLES.items():
        ctx.console.print(table(title, columns, [r for r in rows if r.table == number]))
        ctx.pause()
    render.notes(ctx.console, insights(rows))


def table(title: str, columns: tuple[str, str], rows: Sequence[TableRow]) -> Table:
    out = Table(title=title, box=box.ROUNDED, show_lines=True)
    out.add_column("Aspect", style="bold", ratio=1)
    out.add_column(columns[0], style=render.MODE_STYLE["command"], ratio=3)
    out.add_column(columns[1], style=render.MODE_STYLE["event"], ratio=3)
    out.add_column("Holds?", no_wrap=True)
    for row in rows:
        verdict = Text("yes", style="bold green") if row.holds else Text("NO", style="bold red")
        out.add_row(escape(row.aspect), _cell(row.lesson[0], row.command), _cell(row.lesson[1], row.event), verdict)
    return out


def _cell(lesson: str, cell: Cell) -> Group:
    sources = [ref.location for ref in cell.sources]
    shown = ", ".join(sources[:SHOWN_SOURCES]) + (
        f" and {len(sources) - SHOWN_SOURCES} more" if len(sources) > SHOWN_SOURCES else ""
    )
    return Group(
        Text(f"lesson: {lesson}", style="italic"),
        Text(cell.value, style="yellow" if cell.pending else ""),
        Text(f"evidence: {shown or 'none'}", style="dim"),
    )


def insights(rows: Sequence[TableRow]) -> list[str]:
    holding = [r for r in rows if r.holds]
    pending = [r for r in rows if r.command.pending or r.event.pending]
    points = [f"{len(holding)} of {len(rows)} rows hold, measured in this database and this code."]
    points += [f"[b]{escape(r.aspect)}[/b]: {escape(note)}" for r in rows for note in r.notes]
    if pending:
        points.append(
            f"{len(pending)} of the rows have a cell with nothing to measure yet; run the other chapters "
            "(or the web walkthrough at /walkthrough/) and look again."
        )
    points.append("The same rows, with the cited lines shown in the page, are at /walkthrough/ and on the admin index.")
    return points
