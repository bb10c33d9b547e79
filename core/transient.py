"""Which failures are transient, and what a consumer does about one.

A message fails for one of two reasons. Either the message (or the business rule it meets) is
wrong: retrying cannot help, and it ends as a dead letter with the reason. Or something it needs
is away for a while (the database above all): the message is right, and it must be kept and
tried again later. Treating the second kind as the first loses orders (issue 13: a worker whose
PostgreSQL connection was terminated acknowledged, and so dropped, its ``fraud.check``).

Transient, from the database (checked on the exception and its ``__cause__`` chain):

- Django's ``InterfaceError``: the connection is already closed or unusable;
- an ``OperationalError`` with no SQLSTATE: the connection was lost or refused (server down,
  restarting, unreachable);
- an ``OperationalError`` whose SQLSTATE is in class 08 (connection exception), 53 (insufficient
  resources: "too many clients already", out of memory or disk), 57 (operator intervention:
  ``pg_terminate_backend``, shutdown, "the database system is starting up") or 58 (system
  error: I/O), or is a serialization failure (40001), a deadlock (40P01) or a lock not available
  (55P03): the same statement can succeed when tried again;
- on SQLite, "database is locked" or "busy": another writer holds the one write lock.

Everything else (a constraint, a schema mismatch, a bug, a handler's own error) is not.

What a consumer does with a transient failure: reset the database connection (a connection
that died stays dead, so retrying on it fails every time), wait with exponential backoff, and put
the message back on its queue, unacknowledged. ``Backoff`` is per process and grows while the
failures continue, so a database that is down for minutes is polled every few seconds, not
hammered, and a single blip costs half a second.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
from collections.abc import Iterator

import psycopg
from django.db import InterfaceError, connections

TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "53", "57", "58"})
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


class TransientFailure(Exception):
    """The message could not be handled because of its surroundings, not itself: keep it and
    try again later. Raised by the messaging core, caught by the broker adapters."""


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it was raised from (Django raises its database errors from the driver's)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is away for a while, not that the work is wrong."""
    for error in _causes(exc):
        if isinstance(error, TransientFailure | InterfaceError):
            return True
        if isinstance(error, sqlite3.OperationalError):
            text = str(error).lower()
            return "locked" in text or "busy" in text
        if isinstance(error, psycopg.Error):
            if error.sqlstate is None:  # no answer from a server: lost, refused, unreachable
                return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)
            return error.sqlstate[:2] in TRANSIENT_SQLSTATE_CLASSES or error.sqlstate in TRANSIENT_SQLSTATES
    return False


def reset_connections() -> None:
    """Close this thread's database connections, whatever state they are in: the next query
    opens a new one. Closing a connection the server already dropped can itself fail; that
    failure says nothing new."""
    for connection in connections.all(initialized_only=True):
        with contextlib.suppress(Exception):
            connection.close()


def _scale() -> float:
    # The tests shrink every delay (tests/settings.py); the shape stays the same.
    return float(os.environ.get("SHOP_RETRY_DELAY_SCALE", "1"))


class Backoff:
    """Exponential backoff with jitter over consecutive failures: ``first``, twice that, ... up
    to ``most`` seconds; ``succeeded()`` starts it again from the first delay."""

    def __init__(self, first: float = 0.5, most: float = 10.0) -> None:
        self.first = first
        self.most = most
        self.failures = 0
        self._lock = threading.Lock()

    def next_delay(self) -> float:
        with self._lock:
            self.failures += 1
            ceiling = min(self.most, self.first * 2 ** (self.failures - 1))
        return random.uniform(ceiling / 2, ceiling) * _scale()

    def succeeded(self) -> None:
        with self._lock:
            self.failures = 0


#: The backoff of this process's consumers: while the database is away, every consumer in the
#: process waits longer before putting its message back.
CONSUMERS = Backoff()
