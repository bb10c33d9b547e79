"""The one place a message leaves the process.

Messages are handed to the broker only after the surrounding database transaction commits, so
no consumer can see a message about a row that does not exist yet (or never will). This is
the single seam where the transactional outbox goes: ``Outbound.dispatch`` is the only caller
of the transport.

Caveat, until the outbox lands: if the broker is unreachable at commit time, the business rows
are committed and the message is lost (ARCHITECTURE.md §4 on ``delay_on_commit``).
"""

from __future__ import annotations

import time
from functools import partial

from django.db import transaction

from shop.messaging.envelope import Envelope
from shop.messaging.transport import Transport


class Outbound:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def dispatch(self, envelope: Envelope) -> None:
        transaction.on_commit(partial(self._deliver, envelope), robust=False)

    def _deliver(self, envelope: Envelope) -> None:
        from shop.messaging import log

        started = time.perf_counter()
        route = self.transport.deliver(envelope)
        log.sent(envelope, route=route, duration_ms=(time.perf_counter() - started) * 1000)
