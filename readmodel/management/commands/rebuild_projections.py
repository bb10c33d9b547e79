"""``manage.py rebuild_projections``: drop the read model and replay the event store into it.

The event store is the source of truth and the read model is derived from it, so a read model
that is wrong (a projection bug, a new column) is fixed by fixing the code and replaying, not by
editing rows. Safe while the projector runs: both apply each stream's next version only.
"""

from __future__ import annotations

from typing import IO, Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from readmodel import services


class Command(BaseCommand):
    help = "Drop every order summary and tracking row, then replay the whole event store by global position."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=services.REBUILD_BATCH,
            help=f"Events per read and per transaction (default {services.REBUILD_BATCH}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        # OutputWrapper is file-like (write, flush, isatty), so call_command(stdout=...) captures the bar.
        console = Console(file=cast(IO[str], self.stdout), highlight=False)
        columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task("replay", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            report = services.rebuild(batch_size=batch_size, progress=progress)
        self.stdout.write(
            f"Rebuilt {report.streams} order summaries from {report.events} events "
            f"in {report.seconds:.2f} s ({report.rate:,.0f} events/s)."
        )
