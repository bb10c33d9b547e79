"""One message delivered a second time, as a broker does when an acknowledgement was lost, to
show each consumer's inbox skip it (decision 5 in docs/decisions.md). Chapter 6."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from catalog.models import Product
from core.models import InboxEntry, MessageLog, OutboxMessage
from inventory.models import Reservation
from lesson.walkthrough.waiting import wait_until
from messaging.celery_adapter.transport import CeleryTransport
from messaging.kernel.envelope import Envelope
from messaging.kernel.names import Kind
from messaging.kernel.subscriptions import COMMAND_HANDLERS, table
from shop.celery import app


@dataclass
class Redelivery:
    name: str
    message_id: uuid.UUID
    #: (consumer, what it logged the first time, what it logged for the copy)
    consumers: list[tuple[str, str, str]] = field(default_factory=list)
    #: (what, before the copy, after it)
    effects: list[tuple[str, str, str]] = field(default_factory=list)
    waited_s: float | None = None

    @property
    def skipped(self) -> int:
        return sum(1 for _, _, again in self.consumers if again == MessageLog.Status.DUPLICATE)


def redeliver(order_id: uuid.UUID, name: str, *, sku: str, timeout: float) -> Redelivery | None:
    """Publish the order's message ``name`` again, same id, straight to the broker (as a
    redelivery, not a new send), and wait until every consumer it was for has seen the copy."""
    sent = MessageLog.objects.filter(correlation_id=str(order_id), name=name, status=MessageLog.Status.SENT).first()
    row = OutboxMessage.objects.filter(pk=sent.message_id).first() if sent else None
    if row is None:
        return None
    envelope = Envelope.from_wire(row.envelope)
    consumers = [COMMAND_HANDLERS[name]] if envelope.kind is Kind.COMMAND else table().get(name, [])
    first = {c: _statuses(envelope.id, c) for c in consumers}
    before = _effects(order_id, envelope.id, sku)
    CeleryTransport(app).deliver(envelope)
    waited = wait_until(lambda: all(len(_statuses(envelope.id, c)) > len(first[c]) for c in consumers), timeout=timeout)
    after = _effects(order_id, envelope.id, sku)
    result = Redelivery(name, envelope.id, waited_s=waited)
    for consumer in consumers:
        again = _statuses(envelope.id, consumer)[len(first[consumer]) :]
        result.consumers.append((consumer, ", ".join(first[consumer]), ", ".join(again) or "not seen yet"))
    result.effects = [(what, before[what], after[what]) for what in before]
    return result


def _statuses(message_id: uuid.UUID, consumer: str) -> list[str]:
    rows = MessageLog.objects.filter(message_id=message_id, service=consumer).exclude(status=MessageLog.Status.SENT)
    return list(rows.order_by("id").values_list("status", flat=True))


def _effects(order_id: uuid.UUID, message_id: uuid.UUID, sku: str) -> dict[str, str]:
    return {
        f"stock of {sku}": str(Product.objects.get(sku=sku).stock),
        "reservations for the order": str(Reservation.objects.filter(order_id=order_id).count()),
        "inbox rows for the message": str(InboxEntry.objects.filter(message_id=message_id).count()),
    }
