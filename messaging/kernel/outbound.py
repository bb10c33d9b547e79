"""The one place a message leaves the process, and the three ways it can.

``OutboxDispatch`` (the default) writes the message into the outbox table inside the current
transaction, and the relay publishes it after commit. The business change and the message
commit or roll back together: a broker outage delays messages, it never loses them, and never
refuses an order.

The two others exist to show why (tests/integration/test_broker_outage.py measures all three):

- ``ImmediateDispatch`` publishes inside the transaction, like a plain ``.delay()``: a message
  about a row that may still roll back, and a broker outage fails the whole request.
- ``OnCommitDispatch`` publishes after commit, like Celery's ``delay_on_commit``: consumers never
  see uncommitted rows, but if the broker is down at that moment the row is committed and the
  message is lost.
"""

from __future__ import annotations

import logging
import time
import uuid
from functools import partial
from typing import Protocol

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.models import OutboxMessage
from core.rows import Insert
from core.transient import is_transient, reset_connections
from messaging.kernel import log
from messaging.kernel.envelope import Envelope

logger = logging.getLogger("shop.messaging")

#: Seconds the fast path stands aside after the broker refused a publish: the broker is most
#: likely down, and every further attempt would make its request wait through the publish
#: retries (about 2 s a message, messaging/celery_adapter/transport.py) for nothing. The relay publishes
#: the rows meanwhile, and keeps trying the broker on its own schedule. A database error does
#: not pause it (see ``publish_after_commit``).
FAST_PATH_PAUSE = 5.0

#: The outbox row every message sent writes, built once (core/rows.py says why).
_insert_outbox = Insert(OutboxMessage)


class Transport(Protocol):
    """The broker, as the kernel sees it (messaging/celery_adapter/transport.py is the real one)."""

    def deliver(self, envelope: Envelope) -> str:
        """Hand the envelope to the broker; return the route it took, for the message log."""
        ...


class OutboxRelay(Protocol):
    """What publishes the outbox's rows (messaging/operations/relay.py is the real one)."""

    #: Why the last publish failed, or "" once one succeeded; and the failed message's ids.
    failure: str
    failed_message: dict[str, str]

    def publish_now(self, message_id: uuid.UUID, envelope: Envelope | None = None) -> str | None:
        """Publish one row now if nobody else has: "" once sent, why not if it failed, None if
        there was nothing to send (sent, or being sent). ``envelope``, if given, is the row's
        content, which the caller just wrote: the relay need not read it back."""
        ...

    def sweep(self, *, limit: int = 200) -> int:
        """Publish up to ``limit`` due rows, oldest first; how many were sent."""
        ...


class Outbound(Protocol):
    transport: Transport

    def dispatch(self, envelope: Envelope) -> None: ...


class OutboxDispatch:
    def __init__(self, transport: Transport, relay: OutboxRelay, *, fast_path: bool = True) -> None:
        """Without the fast path the sweeper sends every row (the composition root turns it off
        under SHOP_CHAOS, messaging/operations/chaos.py)."""
        self.transport = transport
        self.relay = relay
        self.fast_path = fast_path
        #: The fast path stands aside until then (monotonic seconds), after a failure.
        self.paused_until = 0.0

    def dispatch(self, envelope: Envelope) -> None:
        _insert_outbox(
            id=envelope.id,
            kind=envelope.kind.value,
            name=envelope.type,
            envelope=envelope.to_wire(),
            not_before=envelope.not_before,
        )
        # Fast path. If it fails (broker down), the row stays pending for the sweeper; a timer
        # waits for the sweeper in any case (it is due later).
        if self.fast_path and envelope.not_before is None:
            transaction.on_commit(lambda: self.publish_after_commit(envelope.id, envelope), robust=True)

    def publish_after_commit(self, message_id: uuid.UUID, envelope: Envelope | None = None) -> None:
        """The fast path, run once the transaction that wrote the row has committed.

        It never raises: the request or handler that committed is done, its row is safe, and the
        sweeper (``relay_outbox``) publishes whatever this could not (broker down, database gone).
        An exception here would reach that caller after its commit: ``POST /api/orders`` answered
        500 for an order it had stored. (It used to be ``on_commit(partial(...), robust=True)``,
        and Django 5.2's robust hook logs the callback's ``__qualname__``, which a
        ``functools.partial`` lacks: the AttributeError escaped. A lambda has one.)
        """
        if time.monotonic() < self.paused_until:
            return  # the broker failed moments ago: the relay sends this row
        try:
            failure = self.relay.publish_now(message_id, envelope)
        except Exception as exc:  # noqa: BLE001 - nothing may escape after a commit; the relay retries
            # The database, not the broker (the row could not be claimed or marked sent): no
            # pause. Pausing here sent the next messages through the relay's batches, and a
            # connection cut before a batch's commit has the relay publish the whole batch again.
            if is_transient(exc):
                reset_connections()
            logger.warning("outbox: %s not published yet (%s: %s); the relay will", message_id, type(exc).__name__, exc)
            return
        if not failure:
            return  # sent, or someone else is sending it
        self.paused_until = time.monotonic() + FAST_PATH_PAUSE
        logger.warning(
            "outbox: %s not published yet (%s); the relay will, and this process leaves the next %.0f s"
            " of messages to it too",
            message_id,
            failure,
            FAST_PATH_PAUSE,
        )


class OnCommitDispatch:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def dispatch(self, envelope: Envelope) -> None:
        transaction.on_commit(partial(_deliver, self.transport, envelope))


class ImmediateDispatch:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def dispatch(self, envelope: Envelope) -> None:
        _deliver(self.transport, envelope)


def _deliver(transport: Transport, envelope: Envelope) -> None:
    started = time.perf_counter()
    route = transport.deliver(envelope)
    log.sent(envelope, route=route, duration_ms=(time.perf_counter() - started) * 1000)


# --- What the outbox holds -----------------------------------------------------------------


def due() -> Q:
    """Rows that may go now: every message but a timer whose moment has not come."""
    return Q(not_before__isnull=True) | Q(not_before__lte=timezone.now())


def pending() -> int:
    """Messages waiting to be published now (timers not yet due are not pending: see
    ``timers``)."""
    return OutboxMessage.objects.filter(due(), sent_at__isnull=True).count()


def timers() -> int:
    """Timers the outbox holds until they are due."""
    return OutboxMessage.objects.filter(sent_at__isnull=True, not_before__gt=timezone.now()).count()


def cancel_timers(name: str, correlation_id: str) -> int:
    """Withdraw the unsent timers ``name`` set for one flow (its deadline, once the flow ended
    in time). A timer already sent stays sent: its consumer finds nothing left to do."""
    deleted, _ = OutboxMessage.objects.filter(
        name=name, sent_at__isnull=True, not_before__isnull=False, envelope__correlation_id=correlation_id
    ).delete()
    return deleted
