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
from core.rows import Insert, Select, Update
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


#: Events per read and per transaction in a rebuild. A batch's summaries are written with one
#: statement, so a larger batch costs fewer round trips; this one keeps a transaction (and the
#: rows it locks) to about a thousand orders.
REBUILD_BATCH = 5000
#: The summary's columns a rebuild writes (every field of the fold but the key).
_SUMMARY_COLUMNS = [name for name in Summary.__dataclass_fields__ if name != "order_id"]


def rebuild(*, batch_size: int = REBUILD_BATCH, progress: Progress | None = None) -> RebuildReport:
    """Drop the read model and replay the whole store by global position, in batches.

    Each batch is one transaction, so an interrupted rebuild leaves a consistent (partial) read
    model that a later rebuild or the live projector completes. Reading by position is safe on
    PostgreSQL because appends are serialized (core/eventstore/store.py): a position becomes
    visible only after every smaller one.

    Why by batch and not stream by stream: the result is the live projector's (the same
    ``projection.apply``, the same "next version only" rule under the tracking row's lock), but
    applying each stream with its own queries cost about five round trips per order, which held
    the rebuild to ~3,000 events/s on SQLite and ~1,200/s on PostgreSQL (BENCHMARKS.md, 2026-12).
    ``_apply_batch`` does the same work with a handful of statements per batch.
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

    after, applied = 0, 0
    streams: set[str] = set()
    if progress:
        progress(0, total)
    while batch := store.read_all(after_position=after, limit=batch_size, stream_type=ORDER_STREAM):
        grouped: dict[str, list[StoredEvent]] = {}
        for event in batch:
            grouped.setdefault(event.stream_id, []).append(event)
        with transaction.atomic():
            applied += _apply_batch(grouped, cached_name)
        streams.update(grouped)
        after = batch[-1].position
        if progress:
            progress(applied, max(total, applied))
    return RebuildReport(events=applied, streams=len(streams), seconds=time.perf_counter() - started)


def _apply_batch(grouped: dict[str, list[StoredEvent]], names: projection.CustomerNames) -> int:
    """Apply each stream's events after its tracked version: ``_project``'s rule for many streams
    at once, with its locking. Returns how many events were applied.

    The tracking rows are created if missing (a write first, so that on SQLite the transaction
    holds the write lock before it reads) and locked in stream order, as ``_tracking`` locks one;
    a live projector on the same stream waits, or is waited for, exactly as with ``_project``.
    The summaries to continue are read in one query, folded in memory, and written back with
    one upsert, as are the tracking rows.
    """
    ids = sorted(grouped)
    ProjectionTracking.objects.bulk_create(
        [ProjectionTracking(projection=ORDER_SUMMARY, stream_id=i) for i in ids], ignore_conflicts=True
    )
    locked = ProjectionTracking.objects.select_for_update().filter(projection=ORDER_SUMMARY, stream_id__in=ids)
    trackings = {t.stream_id: t for t in locked.order_by("stream_id")}
    started = [uuid.UUID(i) for i in ids if trackings[i].version > 0]
    rows = {str(r.order_id): r for r in OrderSummary.objects.filter(order_id__in=started)} if started else {}
    summaries: list[OrderSummary] = []
    moved: list[ProjectionTracking] = []
    applied = 0
    for stream_id in ids:
        tracking = trackings[stream_id]
        pending = [e for e in grouped[stream_id] if e.version > tracking.version]
        if pending and pending[0].version != tracking.version + 1:
            # A gap: the events in between have not been applied yet. The store has them.
            pending = [e for e in store.read_stream(stream_id) if e.version > tracking.version]
        row = rows.get(stream_id)
        summary = _to_summary(row) if row is not None else Summary(order_id=uuid.UUID(stream_id))
        count = 0
        for event in pending:
            if event.version != tracking.version + 1:
                break  # never skip a version: apply only the next one
            summary = projection.apply(summary, event, customer_name=names)
            tracking.version, tracking.position = event.version, event.position
            count += 1
        if count:
            summaries.append(OrderSummary(**asdict(summary)))
            # A new object (no primary key), so the upsert matches on (projection, stream_id) only.
            moved.append(
                ProjectionTracking(
                    projection=ORDER_SUMMARY, stream_id=stream_id, version=tracking.version, position=tracking.position
                )
            )
            applied += count
    if summaries:
        OrderSummary.objects.bulk_create(
            summaries, update_conflicts=True, unique_fields=["order_id"], update_fields=_SUMMARY_COLUMNS
        )
        ProjectionTracking.objects.bulk_create(
            moved,
            update_conflicts=True,
            unique_fields=["projection", "stream_id"],
            update_fields=["version", "position", "updated_at"],
        )
    return applied


def _tracking(stream_id: str) -> ProjectionTracking:
    """The stream's tracking row, locked until the transaction ends (created at version 0).

    The lock serializes competing projectors (and a rebuild) on one stream; on SQLite the single
    writer does the same. Two first events racing to create the row: the loser's insert writes
    nothing (ON CONFLICT DO NOTHING, after waiting for the winner) and it reads (and locks) the
    winner's row.
    """
    tracking: ProjectionTracking | None = _tracking_row(ORDER_SUMMARY, stream_id)
    if tracking is None:
        _new_tracking(projection=ORDER_SUMMARY, stream_id=stream_id)
        tracking = _tracking_row(ORDER_SUMMARY, stream_id)
        assert tracking is not None, "the tracking row was just written"
    return tracking


#: The projector's statements, run for every event it handles, as SQL built once (core/rows.py
#: says why). ``_new_tracking`` skips a row another projector's transaction wrote first: on
#: PostgreSQL it waits for that transaction, so the read after it finds (and locks) the row.
_tracking_row = Select(ProjectionTracking, "projection", "stream_id", for_update=True)
_new_tracking = Insert(ProjectionTracking, skip_conflicts=True)
_save_tracking = Update(ProjectionTracking, "version", "position")
_summary_row = Select(OrderSummary, "order_id")
_save_summary = Insert(OrderSummary, update_on=("order_id",))


def _project(tracking: ProjectionTracking, events: Iterable[StoredEvent], names: projection.CustomerNames) -> int:
    """Apply ``events`` after ``tracking.version``, in version order; save summary and tracking."""
    pending = sorted((e for e in events if e.version > tracking.version), key=lambda e: e.version)
    if pending and pending[0].version != tracking.version + 1:
        # A gap: the events in between have not been applied yet. The store has them.
        pending = [e for e in store.read_stream(tracking.stream_id) if e.version > tracking.version]
    if not pending:
        return 0
    row: OrderSummary | None = _summary_row(uuid.UUID(tracking.stream_id))
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
    # One upsert on the unique order_id: the row's columns are the summary's, new row or not.
    _save_summary(**asdict(summary))
    _save_tracking(tracking.pk, version=tracking.version, position=tracking.position)
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
