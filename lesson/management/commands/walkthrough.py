"""``python manage.py walkthrough``: argument parsing only; see lesson/walkthrough/."""

from __future__ import annotations

import sys
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console

from lesson.walkthrough import WalkthroughError, available_modes, run_walkthrough
from lesson.walkthrough.chapters import CHAPTERS

#: Width when the output is not a terminal (files, pipes, tests): fixed, so output is stable.
PLAIN_WIDTH = 160


class Command(BaseCommand):
    help = "Teaching walkthrough: run the order flow in command mode and event mode and trace every message."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--mode", choices=available_modes(), default="both", help="Which mode(s) to run.")
        chapters = ", ".join(f"{c.number} {c.title}" for c in CHAPTERS)
        parser.add_argument("--chapter", type=int, help=f"Run one chapter only ({chapters}). Default: all.")
        parser.add_argument(
            "--broker",
            help="Use a real broker (redis://, amqp://) with the workers of `make run` instead of the "
            "in-process worker. Must equal CELERY_BROKER_URL, which the workers and this process read at startup.",
        )
        parser.add_argument(
            "--reset-catalog",
            action="store_true",
            help="With --broker: allow resetting the demo catalog's stock (every chapter does) in the shared "
            "database. Only for a shop of the walkthrough's own; refused without it.",
        )
        parser.add_argument("--pause", action="store_true", help="Wait for Enter after each step.")

    def handle(self, *args: Any, **options: Any) -> None:
        out: IO[str] = getattr(self.stdout, "_out", sys.stdout)  # the raw stream: rich manages its own newlines
        tty = bool(getattr(out, "isatty", lambda: False)())
        console = Console(file=out, width=None if tty else PLAIN_WIDTH, no_color=not tty, highlight=False)
        if tty and console.width > PLAIN_WIDTH:
            console.width = PLAIN_WIDTH
        try:
            run_walkthrough(
                console,
                mode=options["mode"],
                chapter=options["chapter"],
                broker=options["broker"],
                pause=options["pause"],
                reset_catalog=options["reset_catalog"],
            )
        except WalkthroughError as exc:
            raise CommandError(str(exc)) from exc
