"""What this database shows happened, per mode. Reads only: nothing here places an order.

The most recent ``WINDOW`` orders of each mode are measured, so the tables stay quick on a
database that has run for a long time.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.eventstore import store
from core.eventstore.store import StoredEvent
from core.models import DeadLetter, EventRecord, MessageLog
from lesson.evidence.traffic import ModeLog
from orders import replay
from orders.models import FailedCommand, Order
from readmodel.models import OrderSummary

WINDOW = 200


def recent_orders(mode: str, window: int = WINDOW) -> list[Order]:
    return list(Order.objects.filter(mode=mode).order_by("-placed_at")[:window])


def mode_log(mode: str, window: int = WINDOW) -> ModeLog:
    """The mode's recent orders and every log row correlated with them (by order id)."""
    ids = [
        str(pk) for pk in Order.objects.filter(mode=mode).order_by("-placed_at").values_list("id", flat=True)[:window]
    ]
    rows = list(MessageLog.objects.filter(correlation_id__in=ids).order_by("created_at", "id")) if ids else []
    return ModeLog(mode, ids, rows)


def stream_lengths(order_ids: list[str]) -> dict[str, int]:
    """Order id -> how many events its stream holds in the event store (0: no history)."""
    counts = dict.fromkeys(order_ids, 0)
    for stream_id in EventRecord.objects.filter(stream_id__in=order_ids).values_list("stream_id", flat=True):
        counts[stream_id] += 1
    return counts


def summarized(order_ids: list[str]) -> int:
    """How many of these orders have a row in the read model (``OrderSummary``)."""
    return OrderSummary.objects.filter(order_id__in=order_ids).count()


@dataclass(frozen=True)
class ReplayCheck:
    orders: int  # event-mode orders replayed
    past_states: int  # states reproducible by replaying a prefix of a stream
    drifted: list[str]  # orders whose row differs from the replay of their stream


def replay_check(orders: list[Order]) -> ReplayCheck:
    """Replay each order's stream: the whole stream must reproduce the row; every prefix is a past
    state that can be reproduced the same way (``GET /api/orders/{id}/state?version=N``).
    One query for every stream."""
    streams: dict[str, list[StoredEvent]] = {}
    records = EventRecord.objects.filter(stream_id__in=[str(o.id) for o in orders]).order_by("stream_id", "version")
    for record in records:
        streams.setdefault(record.stream_id, []).append(store.to_stored(record))
    drifted = [str(o.id) for o in orders if str(o.id) in streams and replay.drift(o, streams[str(o.id)])]
    return ReplayCheck(len(streams), sum(len(events) for events in streams.values()), drifted)


def failed_commands(order_ids: list[str]) -> int:
    """Command failures the producer recorded for itself (``orders.note_failure``)."""
    return FailedCommand.objects.filter(order_id__in=order_ids).count()


def dead_letters(message_ids: list[str]) -> dict[str, int]:
    """Consumer -> dead letters it keeps for these messages."""
    out: dict[str, int] = {}
    for consumer in DeadLetter.objects.filter(message_id__in=message_ids).values_list("consumer", flat=True):
        out[consumer] = out.get(consumer, 0) + 1
    return out
