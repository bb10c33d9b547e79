"""The teaching walkthrough: chapters that place orders and print what the message log saw.

``python manage.py walkthrough`` parses arguments and calls ``run_walkthrough``; each chapter
lives in its own module and is listed in ``lesson.walkthrough.chapters``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import ExitStack

from django.conf import settings
from django.test.utils import override_settings
from rich.console import Console

from lesson.walkthrough import render
from lesson.walkthrough.chapters import CHAPTERS, Chapter, get
from lesson.walkthrough.context import Context, WalkthroughError, catalog_reset_refusal, display_url, may_reset_catalog
from messaging.celery_adapter.settings import broker_scheme
from shop.celery import app

MODES = {"command": ("command",), "event": ("event",), "both": ("command", "event")}
BROKER_SCHEMES = {"memory", "redis", "rediss", "amqp", "amqps", "pyamqp"}
#: The demo's own process keeps e-mails in memory (they are in notifications' SentEmail table).
DEMO_EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def broker_for(requested: str | None, configured: str) -> str:
    """The broker to use. Settings are read at startup, so ``--broker`` can only confirm them."""
    if requested is None:
        return configured
    if broker_scheme(requested) not in BROKER_SCHEMES:
        raise WalkthroughError(f"--broker {requested!r}: expected a redis://, amqp:// or memory:// URL")
    if requested != configured:
        raise WalkthroughError(
            f"--broker is {display_url(requested)}, but this process was configured with "
            f"CELERY_BROKER_URL={display_url(configured)} (settings are read at startup).\n"
            f"Export it first, the same as for the workers of `make run`:\n"
            f"  export CELERY_BROKER_URL='{display_url(requested)}'  # with your real password\n"
            f'  python manage.py walkthrough --broker "$CELERY_BROKER_URL"'
        )
    return requested


def select(chapter: int | None) -> list[Chapter]:
    if chapter is None:
        return list(CHAPTERS)
    try:
        return [get(chapter)]
    except LookupError as exc:
        raise WalkthroughError(str(exc)) from exc


def run_walkthrough(
    console: Console,
    *,
    mode: str = "both",
    chapter: int | None = None,
    broker: str | None = None,
    pause: bool = False,
    reset_catalog: bool = False,
) -> None:
    """Run the chapters. On a real broker, only with ``reset_catalog`` (``--reset-catalog``):
    every chapter resets the demo stock, which a running shop must keep (``may_reset_catalog``)."""
    url = broker_for(broker, settings.CELERY_BROKER_URL)
    chapters = select(chapter)
    embedded = broker_scheme(url) == "memory"
    if not may_reset_catalog(embedded=embedded, reset_requested=reset_catalog):
        raise WalkthroughError(catalog_reset_refusal(url))
    os.environ.setdefault("SHOP_RETRY_DELAY_SCALE", "0.05")  # quick retries; read at each retry
    ctx = Context(console, MODES[mode], url, embedded, pause_between_steps=pause, reset_requested=reset_catalog)
    _announce(ctx)
    with override_settings(EMAIL_BACKEND=DEMO_EMAIL_BACKEND):
        _run_chapters(ctx, chapters)


def _run_chapters(ctx: Context, chapters: Sequence[Chapter]) -> None:
    """Run the chapters in order, starting the workers once for each run of consecutive chapters
    that need them: stopping the in-process worker costs about 4 s (Celery's loop on memory://
    waits out its 2 s poll twice), which would otherwise be paid after every chapter."""
    with ExitStack() as workers:
        running = False
        for current in chapters:
            render.chapter_heading(ctx.console, current.number, current.title, current.lead)
            if current.needs_workers and not running:
                workers.enter_context(ctx.workers())
            elif running and not current.needs_workers:
                workers.close()  # the chapter starts (or avoids) workers itself
            running = current.needs_workers
            current.run(ctx)


def _announce(ctx: Context) -> None:
    if ctx.embedded:
        where = "an in-process worker on memory:// (the embedded default, no servers)"
    else:
        where = (
            f"{display_url(ctx.broker_url)}, expecting the workers of `make run` "
            "(same CELERY_BROKER_URL and DATABASE_URL) to be consuming"
        )
    ctx.console.print(f"[dim]Services run on {where}.[/dim]")
    if not ctx.embedded and not _workers_answer():
        ctx.console.print(
            "[bold yellow]No worker answered a ping on this broker: start them with `make run` "
            "(or the Procfile lines), or orders will wait and time out.[/bold yellow]"
        )


def _workers_answer(timeout: float = 1.0) -> bool:
    try:
        return bool(app.control.ping(timeout=timeout))
    except Exception:  # noqa: BLE001 - a ping is advice only; settling reports the real problem
        return False


__all__ = ["WalkthroughError", "available_modes", "run_walkthrough"]


def available_modes() -> Sequence[str]:
    return tuple(MODES)
