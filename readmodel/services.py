"""Writing the read model: catch a stream up from the event store, or rebuild everything.

Both paths go through ``_project``, which applies a stream's events strictly in version order,
starting after the version its ``ProjectionTracking`` row holds, and saves the summary and the
tracking row in one transaction. That makes every way of delivering an event safe:

- a redelivered event (same or new message id) is at or below the tracked version: skipped;
- an event pushed before an earlier one: the earlier one is read from the store first;
- a late event after its successors were applied: already applied, skipped;
- a rebuild running while the projector is live: both apply "the next version" under the
  tracking row's lock, so each event is applied once, by whichever gets there first.

The handler catches up from the store rather than applying the pushed message itself: the
pushed event only says "stream S moved". The store rows are committed before the event
leaves (the outbound seam sends after commit), so the store always has what the push announced.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from django.db import transaction

from catalog.selectors import customer
from core.eventstore import store
from core.eventstore.store import StoredEvent
from core.models import EventRecord
from readmodel import projection
from readmodel.models import OrderSummary, ProjectionTracking
from readmodel.projection import Summary

#: The one projection this app keeps; the name its tracking rows and lag report carry.
ORDER_SUMMARY = "order_summary"
#: The stream type it projects (EventRecord.stream_type).
ORDER_STREAM = "order"

#: Called with (events applied so far, events to apply) during a rebuild.
Progress = Callable[[int, int], None]


def customer_name(user_id: int) -> str:
    """The customer's name, looked up once when order.placed is projected, then kept on the row."""
    found = customer(user_id)
    return found.name if found is not None else f"unknown customer #{user_id}"


def catch_up_stream(stream_id: str) -> int:
    """Apply every stored event of ``stream_id`` after the tracked version. Returns how many."""
    if store.stream_version(stream_id) == 0:
        return 0  # nothing stored for it (never an order stream): no summary, no bookmark
    with transaction.atomic():
        tracking = _tracking(stream_id)
        return _project(tracking, store.read_stream(stream_id), customer_name)


@dataclass(frozen=True)
class RebuildReport:
    events: int
    streams: int
    seconds: float

    @property
    def rate(self) -> float:
        """Events applied per second."""
        return self.events / self.seconds if self.seconds > 0 else float(self.events)


def rebuild(*, batch_size: int = 500, progress: Progress | None = None) -> RebuildReport:
    """Drop the read model and replay the whole store by global position, in batches.

    Each batch is one transaction, so an interrupted rebuild leaves a consistent (partial) read
    model that a later rebuild or the live projector completes. Reading by position is safe on
    PostgreSQL because appends are serialized (core/eventstore/store.py): a position becomes
    visible only after every smaller one.
    """
    started = time.perf_counter()
    with transaction.atomic():
        ProjectionTracking.objects.filter(projection=ORDER_SUMMARY).delete()
        OrderSummary.objects.all().delete()
    total = EventRecord.objects.filter(stream_type=ORDER_STREAM).count()
    names: dict[int, str] = {}

    def cached_name(user_id: int) -> str:
        if user_id not in names:
            names[user_id] = customer_name(user_id)
        return names[user_id]

    after, applied, streams = 0, 0, set()
    if progress:
        progress(0, total)
    while batch := store.read_all(after_position=after, limit=batch_size):
        with transaction.atomic():
            for stream_id, events in _order_streams(batch).items():
                applied += _project(_tracking(stream_id), events, cached_name)
                streams.add(stream_id)
        after = batch[-1].position
        if progress:
            progress(applied, max(total, applied))
    return RebuildReport(events=applied, streams=len(streams), seconds=time.perf_counter() - started)


def _order_streams(batch: list[StoredEvent]) -> dict[str, list[StoredEvent]]:
    """The batch's events grouped by stream, order streams only, in order of first appearance."""
    ids = {event.stream_id for event in batch}
    orders = set(
        EventRecord.objects.filter(stream_id__in=ids, stream_type=ORDER_STREAM).values_list("stream_id", flat=True)
    )
    grouped: dict[str, list[StoredEvent]] = {}
    for event in batch:
        if event.stream_id in orders:
            grouped.setdefault(event.stream_id, []).append(event)
    return grouped


def _tracking(stream_id: str) -> ProjectionTracking:
    """The stream's tracking row, locked until the transaction ends (created at version 0).

    The lock serializes competing projectors (and a rebuild) on one stream; on SQLite the single
    writer does the same. Two first events racing to create the row: the loser's insert fails on
    the unique constraint and get_or_create reads (and locks) the winner's row.
    """
    tracking, _ = ProjectionTracking.objects.select_for_update().get_or_create(
        projection=ORDER_SUMMARY, stream_id=stream_id
    )
    return tracking


def _project(tracking: ProjectionTracking, events: Iterable[StoredEvent], names: projection.CustomerNames) -> int:
    """Apply ``events`` after ``tracking.version``, in version order; save summary and tracking."""
    pending = sorted((e for e in events if e.version > tracking.version), key=lambda e: e.version)
    if pending and pending[0].version != tracking.version + 1:
        # A gap: the events in between have not been applied yet. The store has them.
        pending = [e for e in store.read_stream(tracking.stream_id) if e.version > tracking.version]
    if not pending:
        return 0
    row = OrderSummary.objects.filter(order_id=tracking.stream_id).first()
    summary = _to_summary(row) if row is not None else Summary(order_id=uuid.UUID(tracking.stream_id))
    applied = 0
    for event in pending:
        if event.version != tracking.version + 1:
            break  # never skip a version: apply only the next one
        summary = projection.apply(summary, event, customer_name=names)
        tracking.version, tracking.position = event.version, event.position
        applied += 1
    if not applied:
        return 0
    row = row if row is not None else OrderSummary(order_id=summary.order_id)
    for name, value in asdict(summary).items():
        setattr(row, name, value)
    row.save()
    tracking.save()
    return applied


def _to_summary(row: OrderSummary) -> Summary:
    return Summary(
        order_id=row.order_id,
        customer_name=row.customer_name,
        item_count=row.item_count,
        total=row.total,
        currency=row.currency,
        status=row.status,
        placed_at=row.placed_at,
        shipped_at=row.shipped_at,
        flagged=row.flagged,
        risk_score=row.risk_score,
    )
