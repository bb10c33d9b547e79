"""Orders placed while the broker is down, three ways, counted (chapter 6).

The outage is simulated where the application meets the broker: the composition root
(``bootstrap.configure``) is given a transport that refuses every message the way a stopped
broker does, with kombu's ``OperationalError``. Nothing else is changed: the order service, the
three dispatchers of ``messaging/kernel/outbound.py`` and the relay run as they always do. The
real thing, with RabbitMQ and Redis actually stopped, is ``tests/integration/test_broker_outage.py``
and the fault tier (``pytest -m faults``).

What is counted, per way: orders accepted (their row committed) and refused, and messages lost:
accepted orders whose first message (the one that asks inventory to reserve) never reached
inventory once the broker was back, the relay had swept and the services had settled.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone
from kombu.exceptions import OperationalError

from core.models import MessageLog, OutboxMessage
from lesson.walkthrough.readside import sweep_all
from lesson.walkthrough.scenarios import Scenario, place
from lesson.walkthrough.waiting import settle_orders
from messaging import bootstrap
from messaging.celery_adapter.transport import CeleryTransport
from messaging.kernel.envelope import Envelope
from messaging.kernel.outbound import OutboxDispatch, Transport
from orders.models import Order
from shop.celery import app

#: The three ways a message can leave (messaging/kernel/outbound.py DISPATCHERS), as the lesson names them.
WAYS = {
    "immediate": "inside the transaction (.delay())",
    "on_commit": "after commit (delay_on_commit)",
    "outbox": "outbox, then the relay",
}
#: The message each placed order must get to inventory, per mode.
PLACEMENT = {"command": "inventory.reserve", "event": "order.placed"}
REFUSAL = "simulated outage: connection refused"


class OutageTransport:
    """The real transport, behind a switch. While ``down``, every message is refused as a stopped
    broker refuses it once the publish retries have run out."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.down = False
        self.refused = 0

    def deliver(self, envelope: Envelope) -> str:
        if self.down:
            self.refused += 1
            raise OperationalError(REFUSAL)
        return self.inner.deliver(envelope)


@dataclass
class WayResult:
    mode: str
    way: str
    attempted: int
    accepted: list[uuid.UUID] = field(default_factory=list)  # orders whose row was committed
    caller_saw: list[str] = field(default_factory=list)  # per attempt: what place_order raised, or ""
    kept_despite_error: int = 0  # attempts that raised although their order was committed
    refused_publishes: int = 0  # messages the broker refused while down
    waiting_in_outbox: list[uuid.UUID] = field(default_factory=list)  # message ids, when the broker came back
    published_when_back: int = 0  # of those, sent once the broker was back
    reached_inventory: int = 0

    @property
    def refused(self) -> int:
        return self.attempted - len(self.accepted)

    @property
    def lost(self) -> int:
        return len(self.accepted) - self.reached_inventory


class _DropRefusals(logging.Filter):
    """The outbox's fast path logs each refusal as a warning; the table counts them instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return REFUSAL not in record.getMessage()


@contextmanager
def _refusals_hidden() -> Iterator[None]:
    messaging, refusals = logging.getLogger("shop.messaging"), _DropRefusals()
    messaging.addFilter(refusals)
    try:
        yield
    finally:
        messaging.removeFilter(refusals)


def place_during_outage(mode: str, way: str, scenario: Scenario, *, orders: int) -> WayResult:
    """With the (simulated) broker down, place ``orders`` orders sending one way, and count what
    the caller was told, what was kept, and what waits in the outbox. ``recover`` does the rest."""
    result = WayResult(mode, way, attempted=orders)
    transport = OutageTransport(CeleryTransport(app))
    bootstrap.configure(transport=transport, dispatch=way)
    started = timezone.now()
    transport.down = True
    try:
        with _refusals_hidden():
            for _ in range(orders):
                kept_before = len(result.accepted)
                error = ""
                try:
                    place(scenario, mode)
                except Exception as exc:  # noqa: BLE001 - each way surfaces the outage differently; we count it
                    error = f"{type(exc).__name__}: {exc}"
                result.accepted = _placed_since(started, scenario, mode)
                result.caller_saw.append(error)
                result.kept_despite_error += int(bool(error) and len(result.accepted) > kept_before)
    finally:
        bootstrap.configure()
    result.refused_publishes = transport.refused
    result.waiting_in_outbox = _unsent(result.accepted)
    return result


def recover(results: list[WayResult], *, timeout: float) -> list[str]:
    """The broker is back: the relay sweeps the outbox, the services settle, and each way's orders
    are counted again. Returns what was still awaited when counting (empty: everything settled)."""
    outbound = bootstrap.bus().outbound
    if isinstance(outbound, OutboxDispatch):
        sweep_all(outbound.relay)
    waiting = settle_orders([order for r in results for order in r.accepted], timeout=timeout)
    for r in results:
        r.published_when_back = OutboxMessage.objects.filter(id__in=r.waiting_in_outbox, sent_at__isnull=False).count()
        r.reached_inventory = _reached_inventory(r.accepted, PLACEMENT[r.mode])
    return waiting


def _placed_since(started: datetime, scenario: Scenario, mode: str) -> list[uuid.UUID]:
    """The orders committed since ``started``: what was accepted, whatever the caller was told."""
    rows = Order.objects.filter(customer__email=scenario.email, mode=mode, placed_at__gte=started)
    return list(rows.order_by("placed_at").values_list("id", flat=True))


def _unsent(order_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """Ids of these orders' messages still waiting in the outbox to be published (not the
    deadline timers, which wait there by design until they are due)."""
    ids = {str(i) for i in order_ids}
    rows = OutboxMessage.objects.filter(sent_at__isnull=True, not_before__isnull=True).values_list("id", "envelope")
    return [pk for pk, envelope in rows if envelope.get("correlation_id") in ids]


def _reached_inventory(order_ids: list[uuid.UUID], message: str) -> int:
    return (
        MessageLog.objects.filter(correlation_id__in=[str(i) for i in order_ids], name=message, service="inventory")
        .exclude(status=MessageLog.Status.SENT)
        .values("correlation_id")
        .distinct()
        .count()
    )
