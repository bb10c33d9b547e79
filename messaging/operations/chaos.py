"""Fault injection in the outbox relay: every message delivered twice, in shuffled order.

This exists for the fault tests (``tests/faults``, ``pytest -m faults``) and for the walkthrough,
to show that the inboxes and the idempotent services turn at-least-once, out-of-order delivery
into exactly-once effects. It is never on unless asked for; do not enable it in production.

Turn it on with ``SHOP_CHAOS=duplicate-shuffle`` in the environment of *every* process (the web
or test process, each worker, the relay), since each of them sends messages:

- ``OutboxDispatch`` skips its fast path (``fast_path_enabled()`` is false), so every message
  waits in the outbox until the sweeper (``manage.py relay_outbox``) publishes it, in batches;
- ``bootstrap.configure()`` wraps the transport in ``DuplicateShuffleTransport``: what the relay
  hands it during one transaction (one sweep) is buffered, and once that transaction has
  committed, each envelope is delivered twice and the whole batch is shuffled. So consumers
  see duplicates (same message id) and later messages overtaking earlier ones.

If the broker fails while a batch is being delivered, the outbox rows of the envelopes not
delivered yet are put back to pending, so the sweeper sends them again: the chaos adds
deliveries, it never removes one.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import uuid

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from core.models import OutboxMessage
from messaging.kernel.envelope import Envelope
from messaging.kernel.outbound import Transport

logger = logging.getLogger("shop.messaging")

#: The environment variable that turns chaos on, and the modes it accepts.
CHAOS_ENV = "SHOP_CHAOS"
DUPLICATE_SHUFFLE = "duplicate-shuffle"
MODES = (DUPLICATE_SHUFFLE,)


def mode() -> str | None:
    """The chaos mode the environment asks for, or None (the normal case)."""
    value = os.environ.get(CHAOS_ENV, "").strip().lower()
    if not value or value in {"0", "off", "none"}:
        return None
    if value not in MODES:
        raise ImproperlyConfigured(f"{CHAOS_ENV} must be one of {MODES} (or empty), not {value!r}")
    return value


def fast_path_enabled() -> bool:
    """Whether ``OutboxDispatch`` publishes right after commit. Off under chaos, so that every
    message goes out in the sweeper's batches, which is what gets duplicated and shuffled."""
    return mode() is None


def wrap(transport: Transport) -> Transport:
    """The transport the buses should use: ``transport`` itself unless chaos is on."""
    if mode() == DUPLICATE_SHUFFLE and not isinstance(transport, DuplicateShuffleTransport):
        return DuplicateShuffleTransport(transport)
    return transport


class DuplicateShuffleTransport:
    """Buffers the envelopes handed over in one transaction; after commit, delivers each one
    ``copies`` times, all copies in random order."""

    def __init__(self, inner: Transport, *, copies: int = 2, rng: random.Random | None = None) -> None:
        self.inner = inner
        self.copies = copies
        self.rng = rng or random.Random()
        self._local = threading.local()

    def _buffer(self) -> list[Envelope]:
        buffer: list[Envelope] | None = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = self._local.buffer = []
        return buffer

    def deliver(self, envelope: Envelope) -> str:
        self._buffer().append(envelope)
        # One callback per envelope; the first to run after commit delivers the whole buffer and
        # the others find it empty. If the transaction rolls back, its callbacks are dropped and
        # the buffer goes out with the next committed batch: extra copies, never a lost one.
        transaction.on_commit(self.flush, robust=True)
        return f"chaos: {self.copies} copies, shuffled, after commit"

    def flush(self) -> int:
        """Deliver everything buffered in this thread. Returns how many copies went out."""
        batch = self._buffer()
        if not batch:
            return 0
        self._local.buffer = []
        copies = [envelope for envelope in batch for _ in range(self.copies)]
        self.rng.shuffle(copies)
        delivered: set[uuid.UUID] = set()
        for index, envelope in enumerate(copies):
            try:
                self.inner.deliver(envelope)
            except Exception as exc:  # noqa: BLE001 - the broker failed: give back what did not go out
                missing = {e.id for e in copies[index:]} - delivered
                self._back_to_pending(missing, f"{type(exc).__name__}: {exc}")
                logger.warning("chaos: broker failed after %d of %d copies: %s", index, len(copies), exc)
                return index
            delivered.add(envelope.id)
        logger.info("chaos: delivered %d envelopes as %d shuffled copies", len(batch), len(copies))
        return len(copies)

    @staticmethod
    def _back_to_pending(ids: set[uuid.UUID], error: str) -> None:
        if not ids:
            return
        OutboxMessage.objects.filter(pk__in=ids).update(sent_at=None, last_error=f"chaos: {error}"[:2000])
