"""Every service of the shop in one process, for the embedded default (``memory://``): the
worker (messaging/celery_adapter/embedded.py) and the outbox relay, in background threads.

``memory://`` queues live inside one process, so with the embedded default nobody else could
consume what this process sends. The web process (``shop/wsgi.py``, under gunicorn or
runserver) therefore runs every service itself, from the moment it loads, so that an order
placed through the API reaches its final state and its deadline fires with no page visit. On a
real broker the Procfile's processes do this and nothing is started here.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import close_old_connections, connections

from core.transient import reset_connections
from messaging.celery_adapter import current
from messaging.celery_adapter.embedded import embedded_worker
from messaging.celery_adapter.settings import broker_scheme
from messaging.kernel.outbound import OutboxDispatch
from messaging.kernel.wiring import bus
from messaging.operations.relay import Relay

logger = logging.getLogger("shop.messaging")


@contextmanager
def embedded_relay(every: float = 0.2) -> Iterator[None]:
    """The outbox sweeper (``manage.py relay_outbox``) as a thread of this process.

    The fast path publishes each transaction's messages on commit, so most runs never need it;
    timers (``CommandBus.send(not_before=...)``, the saga deadline) wait for it by design.
    """
    stopping = threading.Event()

    def sweep() -> None:
        try:
            while not stopping.wait(every):
                try:
                    close_old_connections()
                    outbound = bus().outbound
                    if isinstance(outbound, OutboxDispatch):
                        Relay(outbound.transport).sweep()
                except Exception:  # like the relay process: log it, and sweep again later
                    logger.exception("embedded relay: sweep failed")
                    reset_connections()
        finally:
            reset_connections()

    thread = threading.Thread(target=sweep, name="embedded-relay", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopping.set()
        thread.join(timeout=10)


# --- The whole stack in one process ----------------------------------------------------------

#: Seconds to wait for the worker's consumers to be ready.
START_TIMEOUT = 30.0


class _Background:
    """The running services: their thread, and the events they are started and stopped with."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=_serve, args=(self,), name="embedded-services", daemon=True)


_lock = threading.Lock()
_background: _Background | None = None


def wanted() -> bool:
    """Whether this process must run the services itself: by default only on ``memory://``.

    ``SHOP_EMBEDDED_SERVICES`` (True/False) overrides it; tests that run their own worker, or
    none, set it to False."""
    setting = getattr(settings, "SHOP_EMBEDDED_SERVICES", None)
    if setting is not None:
        return bool(setting)
    return broker_scheme(settings.CELERY_BROKER_URL) == "memory"


def is_running() -> bool:
    return _background is not None and _background.ready.is_set() and _background.thread.is_alive()


def ensure_started() -> bool:
    """Start the services once per process if they are wanted; True if they are running.

    Raises RuntimeError when they are wanted and could not start."""
    global _background
    if not wanted():
        return False
    with _lock:
        if _background is None or not _background.thread.is_alive():
            _background = _Background()
            _background.thread.start()
        running = _background
    if not running.ready.wait(START_TIMEOUT):
        raise RuntimeError(f"the embedded services did not start within {START_TIMEOUT:.0f} s")
    if running.error is not None:
        raise RuntimeError(f"the embedded services failed to start: {running.error}") from running.error
    return True


def stop(timeout: float = 30.0) -> None:
    """Stop the services if this process started them (tests, process exit)."""
    global _background
    with _lock:
        running, _background = _background, None
    if running is None:
        return
    running.stop.set()
    running.thread.join(timeout)


def _serve(running: _Background) -> None:
    """The services' thread: start the worker and the relay, say so, then wait to be stopped."""
    app = current.app()
    try:
        with embedded_worker(app), embedded_relay():
            logger.info("embedded services running in process %d: every service's consumers and the relay", os.getpid())
            running.ready.set()
            running.stop.wait()
    except Exception as exc:  # reported to whoever waits for the start, and logged
        running.error = exc
        logger.exception("the embedded services stopped")
    finally:
        running.ready.set()  # never leave a caller waiting on services that are gone
        connections.close_all()
