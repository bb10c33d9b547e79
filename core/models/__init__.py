"""The messaging core's tables (messaging.py), the outbox (outbox.py), the event store (eventstore.py)."""

from core.models.eventstore import EventRecord
from core.models.messaging import DeadLetter, InboxEntry, InjectedFault, MessageLog
from core.models.outbox import OutboxMessage

__all__ = ["DeadLetter", "EventRecord", "InboxEntry", "InjectedFault", "MessageLog", "OutboxMessage"]
