"""``python manage.py replay_order ORDER_ID [--until-version N]``: an event-mode order's stream,
and the state folded from its first N events (the lesson's ``getCurrentState``, run for real).

A command-mode order has no stream: its row was overwritten in place at every change, so the
command says so and exits non-zero.
"""

from __future__ import annotations

import sys
import uuid
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orders.errors import OrderError
from orders.replay import ReplayedEvent, ReplayedState, state_at

#: Width when the output is not a terminal (files, pipes, tests): fixed, so output is stable.
PLAIN_WIDTH = 160

#: The same in every event of the stream: left out of "key data" (so are the ``*_at`` times, which
#: the "recorded at" column shows closely enough).
NOT_KEY_DATA = {"order_id", "user_id"}


class Command(BaseCommand):
    help = "Print an event-mode order's stream and the state replayed from its first N events."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("order_id", help="The order's id (a UUID).")
        parser.add_argument(
            "--until-version",
            type=int,
            metavar="N",
            help="Fold only the first N events (time travel). Default: the whole stream, i.e. now.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            order_id = uuid.UUID(options["order_id"])
        except ValueError as exc:
            raise CommandError(f"not an order id (a UUID): {options['order_id']!r}") from exc
        until: int | None = options["until_version"]
        try:
            whole = state_at(order_id)
            folded = whole if until is None else state_at(order_id, until)
        except OrderError as exc:
            raise CommandError(f"order {order_id}: {exc.message}") from exc

        console = _console(self)
        console.print(
            f"[bold]order {order_id}[/bold] · event mode · stream at version {whole.stream_version}",
            highlight=False,
        )
        console.print(stream_table(whole, folded_until=folded.version))
        heading = "now" if folded.version == whole.stream_version else "time travel"
        console.print(state_table(folded, title=f"state after version {folded.version} ({heading})"))


def stream_table(replayed: ReplayedState, *, folded_until: int) -> Table:
    table = Table(title="the stream", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("version", justify="right", no_wrap=True)
    table.add_column("position", justify="right", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("schema v", no_wrap=True)
    table.add_column("recorded at", no_wrap=True)
    table.add_column("key data", ratio=1)
    table.add_column("folded", no_wrap=True)
    for event in replayed.events:
        folded = event.version <= folded_until
        table.add_row(
            str(event.version),
            str(event.position),
            escape(event.type),
            _schema(event),
            event.recorded_at.isoformat(timespec="seconds"),
            escape(key_data(event.data)),
            "yes" if folded else "no",
            style=None if folded else "dim",
        )
    return table


def state_table(replayed: ReplayedState, *, title: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", ratio=1)
    for name, value in replayed.state.items():
        table.add_row(escape(name), escape("" if value is None else str(value)))
    return table


def key_data(data: dict[str, Any]) -> str:
    """The facts an event adds, in one line: ``method=card``, ``items=2 lines, 3 units``."""
    parts = []
    for name, value in data.items():
        if name in NOT_KEY_DATA or name.endswith("_at"):
            continue
        if name == "items" and isinstance(value, list):
            units = sum(int(line.get("quantity", 0)) for line in value if isinstance(line, dict))
            parts.append(f"items={len(value)} lines, {units} units")
        elif isinstance(value, list):
            parts.append(f"{name}={'; '.join(map(str, value))}")
        else:
            parts.append(f"{name}={value}")
    return " · ".join(parts)


def _schema(event: ReplayedEvent) -> str:
    if event.stored_schema_version == event.schema_version:
        return f"v{event.schema_version}"
    return f"v{event.schema_version} (stored v{event.stored_schema_version}, upcast)"


def _console(command: BaseCommand) -> Console:
    out: IO[str] = getattr(command.stdout, "_out", sys.stdout)  # the raw stream: rich manages its own newlines
    tty = bool(getattr(out, "isatty", lambda: False)())
    console = Console(file=out, width=None if tty else PLAIN_WIDTH, no_color=not tty, highlight=False)
    if tty and console.width > PLAIN_WIDTH:
        console.width = PLAIN_WIDTH
    return console
