"""What every chapter gets: the console, the selected modes, the broker, and pausing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kombu.utils.url import maybe_sanitize_url
from rich.console import Console

from catalog.services import seed_catalog
from messaging.celery_adapter.embedded import embedded_worker
from shop.celery import app


def display_url(url: str) -> str:
    """A broker URL fit to print: any password masked."""
    return maybe_sanitize_url(url) if "@" in url else url


class WalkthroughError(Exception):
    """A problem with how the walkthrough was started or with the services, explained for the user."""


def may_reset_catalog(*, embedded: bool, reset_requested: bool) -> bool:
    """Whether the walkthrough may overwrite the demo catalog's stock before its chapters.

    Every chapter restores the seeded stock (``seed_catalog(reset=True)``) so that each mode and
    each run starts from the same shelves. On the embedded memory:// broker the walkthrough's own
    process is the whole shop, so that is always safe. On a real broker it shares DATABASE_URL
    with the workers of ``make run``: a shop in use has stock reserved by open orders, and
    resetting it would count those reservations twice (a later cancel would push the stock above
    its seeded value). There it resets only when asked to (``--reset-catalog``), and otherwise
    refuses before placing anything (``catalog_reset_refusal``). Refusing is simpler than giving
    the walkthrough products and customers of its own, which every chapter and test names.
    """
    return embedded or reset_requested


def catalog_reset_refusal(broker_url: str) -> str:
    """Why the walkthrough will not run on a real broker without ``--reset-catalog``, and what to do."""
    return (
        f"--broker {display_url(broker_url)}: every chapter resets the demo catalog (the stock of PROD-A to "
        "PROD-E and the demo customers) in the database that the workers of `make run` use (DATABASE_URL). "
        "On a shop in use that would overwrite stock reserved by open orders, so the walkthrough refuses.\n"
        "Either run it embedded, with no servers: `make demo` (or `python manage.py walkthrough` without --broker),\n"
        "or give it a shop of its own (`make run` and the walkthrough with a DATABASE_URL nothing else uses) "
        "and allow the reset:\n"
        '  python manage.py walkthrough --broker "$CELERY_BROKER_URL" --reset-catalog'
    )


@dataclass
class Context:
    console: Console
    modes: tuple[str, ...]
    broker_url: str
    embedded: bool  # True: this process runs the workers (memory://); False: `make run` does
    pause_between_steps: bool = False
    settle_timeout: float = 20.0
    reset_requested: bool = False  # --reset-catalog: a real broker's shop may have its stock reset

    def reset_catalog(self) -> None:
        """Restore the demo catalog's seeded stock, where that is allowed (``may_reset_catalog``).

        ``run_walkthrough`` refuses up front; this check stays so that no chapter can reset a
        running shop's stock by another way in.
        """
        if not may_reset_catalog(embedded=self.embedded, reset_requested=self.reset_requested):
            raise WalkthroughError(catalog_reset_refusal(self.broker_url))

        seed_catalog(reset=True)

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
