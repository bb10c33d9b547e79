"""The event store benchmark's writes: the same orders into our store and the library's.

One warm-up order through the services, whose events are the template; then the append sample
through the real services (ours) and step by step (the library's), whole orders one transaction
or save each, and the rest ``FILL_BATCH`` orders per transaction or save. Each part is written
in ``CHUNKS`` turns, the two sides alternating, so that a change in the machine's load falls on
both (bench/eventstore.py says why this way).
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bench import eventsourcing_baseline as baseline
from bench.eventsourcing_baseline import Fact, Timing
from bench.eventstore_workload import LIFECYCLE, QUANTITY, Plan, note

# The app's modules are imported inside the functions that use them: Django can be set up only
# once the database for the run exists, which ``measure`` (bench/eventstore.py) makes first.

#: Orders per transaction (ours) and per save (the library's) when filling past the sample.
FILL_BATCH = 100
#: Each timed write is done in this many parts, ours and the library's taking turns.
CHUNKS = 10

#: One stored event as the services recorded it: (type, schema version, data).
Recorded = tuple[str, int, dict[str, Any]]


def ship_through_services() -> uuid.UUID:
    """One order from placed to shipped, each step its own transaction, as in production."""
    from messaging.kernel.envelope import Envelope
    from messaging.kernel.names import Kind
    from orders import review, services

    customer_id, product_id = first_customer_and_product()
    order = services.place_order(
        customer_id=customer_id, items=[services.LineRequest(product_id=product_id, quantity=QUANTITY)], mode="event"
    )
    authorized = Envelope(
        kind=Kind.EVENT,
        type="payment.authorized",
        correlation_id=str(order.id),
        producer="payments",
        data={"order_id": str(order.id), "amount": str(order.total), "currency": "EUR"},
    )
    review.clear_order(order.id, risk_score=0.0, cause=authorized)  # fraud's verdict: not flagged
    services.confirm_order(order.id, cause=authorized)
    services.pay_order(order.id, method="card")
    services.pack_order(order.id, warehouse="W2")
    services.ship_order(order.id, carrier="DHL", tracking=f"TRACK-{order.id.hex[:10]}")
    return order.id


@functools.cache
def first_customer_and_product() -> tuple[int, int]:
    """Who orders what: looked up once, so the timed loop holds only the services' own work."""
    from catalog.models import Customer, Product

    customer = Customer.objects.order_by("id").first()
    product = Product.objects.order_by("id").first()
    assert customer is not None and product is not None
    return customer.pk, product.pk


def recorded_facts(stream_id: uuid.UUID) -> list[Recorded]:
    """What the services stored for one order."""
    from core.eventstore import store

    facts = [(e.type, e.schema_version, e.data) for e in store.read_stream(str(stream_id))]
    assert tuple(t for t, _, _ in facts) == LIFECYCLE, facts
    return facts


def library_facts(template: Sequence[Recorded]) -> list[Fact]:
    """The same events for the library, without the order id (there, the aggregate's id)."""
    return [(event_type, {k: v for k, v in data.items() if k != "order_id"}) for event_type, _, data in template]


def envelopes_for(stream: str, template: Sequence[Recorded]) -> list[Any]:
    """One order's events for ``stream``, as the order service would publish them (Django is set
    up by then: the envelope module reads the contracts)."""
    from messaging.kernel.envelope import Envelope
    from messaging.kernel.names import Kind

    return [
        Envelope(
            kind=Kind.EVENT,
            type=event_type,
            version=version,
            correlation_id=stream,
            producer="orders",
            data={**data, "order_id": stream},
        )
        for event_type, version, data in template
    ]


def append_to_store(stream_ids: Sequence[uuid.UUID], template: Sequence[Recorded], *, per_transaction: int) -> Timing:
    """Append ``template``'s events to each new stream with ``store.append``, one call per order
    and ``per_transaction`` orders per transaction. Counts events."""
    from django.db import transaction

    from core.eventstore import store

    started = time.perf_counter()
    for first in range(0, len(stream_ids), per_transaction):
        with transaction.atomic():
            for stream_id in stream_ids[first : first + per_transaction]:
                stream = str(stream_id)
                store.append(stream, envelopes_for(stream, template), expected_version=0)
    return Timing(len(stream_ids) * len(template), time.perf_counter() - started)


def chunks(count: int) -> Iterator[range]:
    """``count`` split into ``CHUNKS`` parts: the two sides take turns, so that a change in the
    machine's load during a run falls on both alike."""
    size = max(1, -(-count // CHUNKS))
    for first in range(0, count, size):
        yield range(first, min(first + size, count))


@dataclass(frozen=True)
class Writes:
    """Each part of the plan as written by us and by the library. Timings count events."""

    all_ids: list[uuid.UUID]
    services: Timing
    outbox_rows: int
    library_step_by_step: Timing
    whole: Timing
    library_whole: Timing
    batched: Timing
    library_batched: Timing


def write_both(app: baseline.Baseline, plan: Plan) -> Writes:
    """The same orders into both stores, part by part, the two sides taking turns."""
    from core.models import EventRecord, OutboxMessage

    # The warm-up order: first calls import and prepare what later ones reuse. Its events are
    # the template the other parts copy.
    warm_up = ship_through_services()
    template = recorded_facts(warm_up)
    baseline.write_step_by_step(app, [(warm_up, library_facts(template))])

    note(f"{plan.sample_orders} orders through the services, and step by step with the library")
    sample_ids, services, step_by_step = write_sample(app, plan.sample_orders, library_facts(template))
    outbox_rows = OutboxMessage.objects.count()
    note(f"{plan.whole_orders} whole orders, one transaction or save each")
    whole_ids = [uuid.uuid4() for _ in range(plan.whole_orders)]
    whole, library_whole = write_copies(app, whole_ids, template, per_transaction=1)
    note(f"{plan.batched_orders} orders, {FILL_BATCH} per transaction or save")
    batched_ids = [uuid.uuid4() for _ in range(plan.batched_orders)]
    batched, library_batched = write_copies(app, batched_ids, template, per_transaction=FILL_BATCH)

    assert EventRecord.objects.count() == plan.events
    assert app.recorder.max_notification_id() == plan.events
    return Writes(
        all_ids=[warm_up, *sample_ids, *whole_ids, *batched_ids],
        services=services,
        outbox_rows=outbox_rows,
        library_step_by_step=step_by_step,
        whole=whole,
        library_whole=library_whole,
        batched=batched,
        library_batched=library_batched,
    )


def write_sample(app: baseline.Baseline, orders: int, facts: Sequence[Fact]) -> tuple[list[uuid.UUID], Timing, Timing]:
    """``orders`` orders through our services, then the same orders step by step with the
    library. Returns their ids and the two timings."""
    ids: list[uuid.UUID] = []
    ours, theirs = Timing(), Timing()
    for part in chunks(orders):
        started = time.perf_counter()
        placed = [ship_through_services() for _ in part]
        ours += Timing(len(placed) * len(LIFECYCLE), time.perf_counter() - started)
        theirs += baseline.write_step_by_step(app, [(order_id, facts) for order_id in placed])
        ids += placed
    return ids, ours, theirs


def write_copies(
    app: baseline.Baseline, ids: Sequence[uuid.UUID], template: Sequence[Recorded], *, per_transaction: int
) -> tuple[Timing, Timing]:
    """``template``'s events for each of ``ids``, in our store and the library's, with
    ``per_transaction`` orders per transaction or save. Returns the two timings."""
    facts = library_facts(template)
    ours, theirs = Timing(), Timing()
    for part in chunks(len(ids)):
        chunk = ids[part.start : part.stop]
        ours += append_to_store(chunk, template, per_transaction=per_transaction)
        theirs += baseline.write_whole_orders(app, [(i, facts) for i in chunk], per_save=per_transaction)
    return ours, theirs
