"""The messaging core's tables (messaging.py) and the event store (eventstore.py)."""

from shop.models.eventstore import EventRecord
from shop.models.messaging import DeadLetter, InboxEntry, InjectedFault, MessageLog

__all__ = ["DeadLetter", "EventRecord", "InboxEntry", "InjectedFault", "MessageLog"]
