"""kombu's in-process ``memory://`` transport, with a worker that stops in a tenth of a second.

Celery's blocking worker loop (the one an embedded worker runs: ``make demo``, the web page on
the embedded default, the fast tests) checks for shutdown only between two calls of
``drain_events``, and it calls it with a 2 s timeout. On ``memory://``, which polls, that call
returns only when a message arrives or the 2 s are up, so every embedded worker took 2 to 3.5 s
to stop. Capping each wait at ``MAX_WAIT`` makes the loop come round ten times a second when
idle: a few hundred cheap polls a second in all, and a worker that stops at once. Messages are
delivered exactly as before; everything else is kombu's code.

The override of ``drain_events`` is named in ``messaging/celery_adapter/internals.py``.
"""

from __future__ import annotations

from typing import Any

from messaging.celery_adapter.internals import MemoryTransport

#: The longest one ``drain_events`` call waits for a message, in seconds.
MAX_WAIT = 0.1


class Transport(MemoryTransport):
    def drain_events(self, connection: Any, timeout: float | None = None, **kwargs: Any) -> None:
        wait = MAX_WAIT if timeout is None else min(timeout, MAX_WAIT)
        super().drain_events(connection, timeout=wait, **kwargs)
