"""The services, in this web process, when the broker is the embedded ``memory://``.

``memory://`` queues live inside one process, so with the embedded default nobody else could
consume what the page's orders send: the first order placed from the page starts the same
in-process worker ``make demo`` uses (``shop.messaging.embedded``), in a background thread,
and it runs until the process exits or ``stop()`` is called. It must be consuming before the
order is placed: in event mode a service's queue is bound to ``events`` by its worker, and an
event published before any binding exists reaches nobody.

On a real broker (``make run``) the Procfile's workers consume and nothing is started here.
Set ``SHOP_WEB_EMBEDDED_WORKER = False`` to never start one (tests that run their own).
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings

from shop.messaging.settings import broker_scheme

logger = logging.getLogger(__name__)

#: Seconds to wait for the worker's consumers to be ready.
START_TIMEOUT = 30.0


class _Running:
    """One background worker: its thread, and the events it is started and stopped with."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=_serve, args=(self,), name="walkthrough-embedded-worker", daemon=True)


_lock = threading.Lock()
_running: _Running | None = None


def wanted() -> bool:
    """Whether this process has to run the services itself: only on ``memory://``."""
    setting = getattr(settings, "SHOP_WEB_EMBEDDED_WORKER", None)
    if setting is not None:
        return bool(setting)
    return broker_scheme(settings.CELERY_BROKER_URL) == "memory"


def is_running() -> bool:
    return _running is not None and _running.ready.is_set() and _running.thread.is_alive()


def ensure_started() -> bool:
    """Start the embedded worker once per process if it is wanted; True if one is running."""
    global _running
    if not wanted():
        return False
    with _lock:
        if _running is None or not _running.thread.is_alive():
            _running = _Running()
            _running.thread.start()
        running = _running
    if not running.ready.wait(START_TIMEOUT):
        raise RuntimeError(f"the embedded worker did not start within {START_TIMEOUT:.0f} s")
    if running.error is not None:
        raise RuntimeError(f"the embedded worker failed to start: {running.error}") from running.error
    return True


def stop(timeout: float = 30.0) -> None:
    """Stop the embedded worker if this process started one (tests, shutdown)."""
    global _running
    with _lock:
        running, _running = _running, None
    if running is None:
        return
    running.stop.set()
    running.thread.join(timeout)


def _serve(running: _Running) -> None:
    """The worker thread: start the consumers, say so, then wait to be stopped."""
    from django.db import connections

    from shop.celery import app
    from shop.messaging.embedded import embedded_worker

    try:
        with embedded_worker(app):
            running.ready.set()
            running.stop.wait()
    except Exception as exc:  # reported to the request waiting for it, and logged
        running.error = exc
        logger.exception("the embedded worker stopped")
    finally:
        running.ready.set()  # never leave a request waiting on a worker that is gone
        connections.close_all()
