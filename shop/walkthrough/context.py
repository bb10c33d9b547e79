"""What every chapter gets: the console, the selected modes, the broker, and pausing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kombu.utils.url import maybe_sanitize_url
from rich.console import Console


def display_url(url: str) -> str:
    """A broker URL fit to print: any password masked."""
    return maybe_sanitize_url(url) if "@" in url else url


class WalkthroughError(Exception):
    """A problem with how the walkthrough was started or with the services, explained for the user."""


@dataclass
class Context:
    console: Console
    modes: tuple[str, ...]
    broker_url: str
    embedded: bool  # True: this process runs the workers (memory://); False: `make run` does
    pause_between_steps: bool = False
    settle_timeout: float = 20.0

    def pause(self) -> None:
        if not self.pause_between_steps:
            return
        try:
            self.console.input("[dim]Press Enter to continue…[/dim]")
        except EOFError:
            self.pause_between_steps = False

    @contextmanager
    def workers(self) -> Iterator[None]:
        """Run the services for the duration of a chapter: in-process on ``memory://``;
        on a real broker the workers of ``make run`` are already consuming."""
        if not self.embedded:
            yield
            return
        from shop.celery import app
        from shop.messaging.embedded import embedded_worker

        with _quiet(), embedded_worker(app):
            yield


class _DropNoHostname(logging.Filter):
    """kombu warns that memory:// has no host name, which is true and of no interest here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "No hostname was supplied" not in record.getMessage()


@contextmanager
def _quiet() -> Iterator[None]:
    """Hide the worker's start-up chatter (INFO). Warnings and errors still reach stderr.

    ``logging.disable`` rather than logger levels: starting the worker re-applies Django's
    LOGGING, which resets the levels of existing loggers.
    """
    previous = logging.root.manager.disable
    kombu_log, no_hostname = logging.getLogger("kombu.connection"), _DropNoHostname()
    logging.disable(max(previous, logging.INFO))
    kombu_log.addFilter(no_hostname)
    try:
        yield
    finally:
        kombu_log.removeFilter(no_hostname)
        logging.disable(previous)
