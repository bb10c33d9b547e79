"""The messaging core's tables (messaging.py), the outbox (outbox.py), the event store (eventstore.py)."""

from shop.models.eventstore import EventRecord
from shop.models.messaging import DeadLetter, InboxEntry, InjectedFault, MessageLog
from shop.models.outbox import OutboxMessage

__all__ = ["DeadLetter", "EventRecord", "InboxEntry", "InjectedFault", "MessageLog", "OutboxMessage"]
