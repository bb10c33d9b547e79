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
from functools import partial
from typing import Protocol

from django.db import transaction

from shop.messaging import chaos, log
from shop.messaging.envelope import Envelope
from shop.messaging.relay import Relay
from shop.messaging.transport import Transport
from shop.models import OutboxMessage

logger = logging.getLogger("shop.messaging")


class Outbound(Protocol):
    transport: Transport

    def dispatch(self, envelope: Envelope) -> None: ...


class OutboxDispatch:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.relay = Relay(transport)
        # Off only under SHOP_CHAOS (shop/messaging/chaos.py): then the sweeper sends everything.
        self.fast_path = chaos.fast_path_enabled()

    def dispatch(self, envelope: Envelope) -> None:
        OutboxMessage.objects.create(
            id=envelope.id,
            kind=envelope.kind.value,
            name=envelope.type,
            envelope=envelope.to_wire(),
            not_before=envelope.not_before,
        )
        # Fast path. If it fails (broker down), the row stays pending for the sweeper; a timer
        # waits for the sweeper in any case (it is due later).
        if self.fast_path and envelope.not_before is None:
            transaction.on_commit(partial(self.relay.send_one, envelope.id), robust=True)


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
    import time

    started = time.perf_counter()
    route = transport.deliver(envelope)
    log.sent(envelope, route=route, duration_ms=(time.perf_counter() - started) * 1000)


DISPATCHERS: dict[str, type[OutboxDispatch] | type[OnCommitDispatch] | type[ImmediateDispatch]] = {
    "outbox": OutboxDispatch,
    "on_commit": OnCommitDispatch,
    "immediate": ImmediateDispatch,
}
