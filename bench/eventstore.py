"""Event store throughput, side by side: this app, the ``eventsourcing`` library, a raw scan.

    python -m bench.eventstore --db sqlite --events 100000
    python -m bench.eventstore --db postgres --events 100000

Prints one JSON object of rates measured in this run, on a database made for it (a temp SQLite
file, or the PostgreSQL database ``shop_bench_es``, dropped and created). ``run(db, events)``
does the same in a subprocess and returns the object: Django sets itself up once per process,
for one database.

What is measured, and why this way:

- Append: orders taken from placed to shipped through the real services (orders/services.py),
  six transactions per order, each writing the order row, the event and its outbox row. The
  lifecycle has six events, not four: ``pack_order`` refuses an order whose stock is not
  reserved, and only ``order.confirmed`` records that, so the order is cleared as fraud's
  ``order.cleared`` would (``order.risk_scored``: no order is confirmed before fraud's verdict)
  and confirmed as payments' ``payment.authorized`` would. The buses are wired to a broker that is down and the outbox's
  fast path is off, so every message stays in the outbox: the cost measured is the database
  write side, not a broker.
- Placing orders through the services is slow (tens per second), so the append rate is
  measured over a sample (``append_sample_orders``) and the rest of the store is filled with
  ``store.append``, copying the events a warm-up order recorded: first whole orders, one
  transaction each, then ``FILL_BATCH`` orders per transaction. Both are timed too: they show
  the event store's own cost, without the services around it.
- The library gets the same orders, written the same way: the sample step by step (load, step,
  save: one transaction per event, as our services), whole orders one save each, the rest
  ``FILL_BATCH`` orders per save. Each ratio compares parts written alike, and the two sides
  take turns, a tenth of a part at a time, so that a change in the machine's load (other
  benchmarks) falls on both. Both stores end up with the same events.
- Reads are repeated (the median of ``REPEATS``, interleaved so that noise hits every side
  alike): our replay of the whole store by position, folding every stream; the library's
  notification log read in pages of the same size and decoded through its mapper (and, as an
  extra, folded too); single orders replayed on both sides; a raw driver scan of our table as
  the floor nothing can beat. The read-model rebuild writes, so it runs once.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import eventsourcing_baseline as baseline
from bench import stack
from bench.eventsourcing_baseline import Fact, Timing

# The app's modules are imported inside the functions that use them: Django can be set up only
# once the database for the run exists, which ``measure`` makes first.
if TYPE_CHECKING:
    from messaging.kernel.envelope import Envelope

ROOT = Path(__file__).resolve().parents[1]
#: Dropped and created by every PostgreSQL run: never point this at a database you keep.
PG_BENCH_DB = "shop_bench_es"
#: Events per read page, for our replay, the library's notification log and the floor alike.
PAGE = baseline.Baseline.log_section_size
#: Orders per transaction (ours) and per save (the library's) when filling past the sample.
FILL_BATCH = 100
#: Read measurements are cheap to repeat: the median of this many.
REPEATS = 3
#: Each timed write is done in this many parts, ours and the library's taking turns.
CHUNKS = 10
#: Orders in the append sample: one in ``SAMPLE_EVERY``, at least ``MIN_SAMPLE_ORDERS``. The
#: services take tens of milliseconds an order; this keeps the quick run to a few seconds.
SAMPLE_EVERY = 20
MIN_SAMPLE_ORDERS = 20
SAMPLE_STREAMS = 1000
#: The lifecycle every order goes through, as the services record it.
LIFECYCLE = ("order.placed", "order.confirmed", "order.paid", "order.packed", "order.shipped")
QUANTITY = 2

#: One stored event as the services recorded it: (type, schema version, data).
Recorded = tuple[str, int, dict[str, Any]]


def run(db: str, events: int) -> dict[str, Any]:
    """Measure ``db`` ("sqlite" or "postgres") over ``events`` events in a subprocess."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.eventstore", "--db", db, "--events", str(events)],
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@dataclass(frozen=True)
class Plan:
    """How the orders are written: one warm-up order, then three timed parts, each written to
    both stores the same way (see ``write_both``)."""

    orders: int
    #: Through the services (ours) and step by step (the library's): the headline append rate.
    sample_orders: int
    #: Whole orders, one transaction (ours) or one save (the library's) each.
    whole_orders: int
    #: The rest, ``FILL_BATCH`` orders per transaction or save.
    batched_orders: int
    sample_streams: int

    @classmethod
    def for_events(cls, events: int) -> Plan:
        orders = events // len(LIFECYCLE)
        if orders < 2:
            raise SystemExit(f"--events must be at least {2 * len(LIFECYCLE)} (a warm-up order and one more)")
        sample = min(orders - 1, max(MIN_SAMPLE_ORDERS, orders // SAMPLE_EVERY))
        whole = min(sample, orders - 1 - sample)
        return cls(
            orders=orders,
            sample_orders=sample,
            whole_orders=whole,
            batched_orders=orders - 1 - sample - whole,
            sample_streams=min(orders, SAMPLE_STREAMS),
        )

    @property
    def events(self) -> int:
        return self.orders * len(LIFECYCLE)


STARTED = time.perf_counter()


def note(message: str) -> None:
    """Progress for whoever watches a long run; stdout carries only the JSON."""
    print(f"[eventstore {time.perf_counter() - STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


# --- The databases ------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(db: str) -> Iterator[str]:
    """A database URL for a new, empty database; a SQLite one is deleted afterwards."""
    if db == "sqlite":
        folder = tempfile.mkdtemp(prefix="shop-bench-es-")
        try:
            yield f"sqlite:///{folder}/bench.sqlite3"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    yield stack.bench_database(PG_BENCH_DB)


def setup_django(database_url: str, plan: Plan) -> None:
    stack.setup_django(database_url)
    from catalog.models import Product

    Product.objects.update(stock=QUANTITY * plan.orders)


class BrokerDown:
    """A transport that never delivers. With the fast path off nothing calls it; were something
    to, the outbox would keep the row, exactly as in an outage."""

    def deliver(self, envelope: Envelope) -> str:
        raise ConnectionError("the benchmark has no broker")


def wire_buses() -> None:
    """At the composition root: the outbox keeps every message, nothing is published."""
    from messaging.bootstrap import configure
    from messaging.kernel.outbound import OutboxDispatch

    outbound = configure(transport=BrokerDown()).outbound
    assert isinstance(outbound, OutboxDispatch)
    outbound.fast_path = False


def library_env(database_url: str) -> dict[str, str]:
    """The library on the same database as ours, in its own table."""
    from django.conf import settings

    if database_url.startswith("sqlite"):
        return baseline.sqlite_env(str(settings.DATABASES["default"]["NAME"]))
    return baseline.postgres_env(database_url)


# --- Writing ------------------------------------------------------------------------------------


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


def append_to_store(stream_ids: Sequence[uuid.UUID], template: Sequence[Recorded], *, per_transaction: int) -> Timing:
    """Append ``template``'s events to each new stream with ``store.append``, one call per order
    and ``per_transaction`` orders per transaction. Counts events."""
    from django.db import transaction

    from core.eventstore import store
    from messaging.kernel.envelope import Envelope
    from messaging.kernel.names import Kind

    started = time.perf_counter()
    for first in range(0, len(stream_ids), per_transaction):
        with transaction.atomic():
            for stream_id in stream_ids[first : first + per_transaction]:
                stream = str(stream_id)
                envelopes = [
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
                store.append(stream, envelopes, expected_version=0)
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


# --- Reading ------------------------------------------------------------------------------------


def measure_replay_all() -> Timing:
    """Fold every stream, reading the whole store once in position order. Counts events."""
    from core.eventstore import store
    from orders.lifecycle import evolve

    states: dict[str, dict[str, Any]] = {}
    count = 0
    started = time.perf_counter()
    for event in store.iter_all(page_size=PAGE):
        states[event.stream_id] = evolve(states.get(event.stream_id, {}), event.type, event.data)
        count += 1
    elapsed = time.perf_counter() - started
    assert all(s["status"] == "shipped" for s in states.values())
    return Timing(count, elapsed)


def measure_replay_streams(streams: Sequence[uuid.UUID]) -> Timing:
    """Replay single orders, as GET /api/orders/{id}/state does: one read per stream. Counts
    events."""
    from core.eventstore import store
    from orders.lifecycle import replay

    count = 0
    started = time.perf_counter()
    for stream in streams:
        events = store.read_stream(str(stream))
        replay((e.type, e.data) for e in events)
        count += len(events)
    return Timing(count, time.perf_counter() - started)


def measure_rebuild() -> Timing:
    """Drop the read model and project the whole store again. Counts events."""
    from readmodel import services as readmodel_services

    started = time.perf_counter()
    report = readmodel_services.rebuild()
    return Timing(report.events, time.perf_counter() - started)


Rows = Iterable[Sequence[Any]]


def scan(execute: Callable[[str, tuple[int, int]], Rows], query: str, decode: Callable[[Any], Any]) -> Timing:
    """Read our table by position, a page at a time, decoding each event's data: the least any
    replay has to do. Counts events."""
    after, count = 0, 0
    started = time.perf_counter()
    while rows := list(execute(query, (after, PAGE))):
        for row in rows:
            decode(row[4])
        after, count = rows[-1][0], count + len(rows)
    return Timing(count, time.perf_counter() - started)


def floor_query(placeholder: str) -> str:
    from core.models import EventRecord

    table = EventRecord._meta.db_table
    return (
        f"SELECT position, stream_id, version, type, data FROM {table} "
        f"WHERE position > {placeholder} ORDER BY position LIMIT {placeholder}"
    )


def measure_floor(database_url: str) -> tuple[str, Timing]:
    """sqlite3 with ``json.loads``; psycopg, which decodes jsonb itself (with ``json.loads``)."""
    from django.conf import settings

    if database_url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(str(settings.DATABASES["default"]["NAME"]))) as lite:
            return "sqlite3 scan", scan(lite.execute, floor_query("?"), json.loads)
    import psycopg

    with psycopg.connect(database_url) as pg:
        return "psycopg scan", scan(pg.execute, floor_query("%s"), lambda data: data)


def median_rate(timings: Sequence[Timing]) -> float:
    return statistics.median(t.rate for t in timings)


# --- The run ------------------------------------------------------------------------------------


def replay_sample(ids: Sequence[uuid.UUID], size: int) -> list[uuid.UUID]:
    """``size`` streams spread evenly over the store: sampled and filled orders alike."""
    step = len(ids) / size
    return [ids[int(i * step)] for i in range(size)]


def read_both(app: baseline.Baseline, database_url: str, streams: Sequence[uuid.UUID]) -> dict[str, Any]:
    """Every read, ``REPEATS`` times, interleaved; the median rate of each."""
    timings: dict[str, list[Timing]] = {}
    floor_kind = ""
    for repeat in range(1, REPEATS + 1):
        note(f"reading, repetition {repeat} of {REPEATS}")
        rounds: dict[str, Callable[[], Timing]] = {
            "replay_all": measure_replay_all,
            "replay_single": lambda: measure_replay_streams(streams),
            "library_read": lambda: baseline.read_all(app),
            "library_read_fold": lambda: baseline.read_all(app, fold=True),
            "library_replay_single": lambda: baseline.replay_aggregates(app, streams),
        }
        for name, measure in rounds.items():
            timings.setdefault(name, []).append(measure())
        floor_kind, floor = measure_floor(database_url)
        timings.setdefault("floor", []).append(floor)
    rates: dict[str, Any] = {name: median_rate(runs) for name, runs in timings.items()}
    rates["floor_kind"] = floor_kind
    return rates


def measure(db: str, plan: Plan) -> dict[str, Any]:
    with fresh_database(db) as database_url:
        note(f"{plan.events} events in {plan.orders} orders, on {db}")
        setup_django(database_url, plan)
        wire_buses()
        from django.db import connection

        with baseline.opened(library_env(database_url)) as app:
            writes = write_both(app, plan)
            streams = replay_sample(writes.all_ids, plan.sample_streams)
            reads = read_both(app, database_url, streams)
        note("rebuilding the read model")
        rebuild = measure_rebuild()
        return report(connection.vendor, plan, writes, reads, rebuild)


def host_load() -> dict[str, Any]:
    """The machine's load: rates from a busy machine are lower, and their ratios noisier."""
    return {"cpus": os.cpu_count(), "load_1m": round(os.getloadavg()[0], 2)}


def report(vendor: str, plan: Plan, writes: Writes, reads: dict[str, Any], rebuild: Timing) -> dict[str, Any]:
    per_order = len(LIFECYCLE)
    return {
        "database": "postgres" if vendor == "postgresql" else vendor,
        "events": plan.events,
        "orders": plan.orders,
        "append_sample_orders": plan.sample_orders,
        "events_per_order": per_order,
        "whole_orders": plan.whole_orders,
        "batched_orders": plan.batched_orders,
        "orders_per_batch": FILL_BATCH,
        "page_size": PAGE,
        "replay_sample_streams": plan.sample_streams,
        "read_repeats": REPEATS,
        "shop": {
            "append_orders_per_s": _rate(writes.services.rate / per_order),
            "append_events_per_s": _rate(writes.services.rate),
            "append_outbox_rows_per_order": round(writes.outbox_rows / (plan.sample_orders + 1), 2),
            "store_one_order_per_transaction_events_per_s": _optional_rate(writes.whole),
            "store_batched_events_per_s": _optional_rate(writes.batched),
            "replay_all_events_per_s": _rate(reads["replay_all"]),
            "replay_single_orders_per_s": _rate(reads["replay_single"] / per_order),
            "replay_single_events_per_s": _rate(reads["replay_single"]),
            "rebuild_events_per_s": _rate(rebuild.rate),
        },
        "eventsourcing": {
            "version": baseline.LIBRARY_VERSION,
            "write_orders_per_s": _rate(writes.library_step_by_step.rate / per_order),
            "write_events_per_s": _rate(writes.library_step_by_step.rate),
            "write_one_save_per_order_events_per_s": _optional_rate(writes.library_whole),
            "write_batched_events_per_s": _optional_rate(writes.library_batched),
            "read_events_per_s": _rate(reads["library_read"]),
            "read_fold_events_per_s": _rate(reads["library_read_fold"]),
            "replay_single_events_per_s": _rate(reads["library_replay_single"]),
        },
        "floor": {"kind": reads["floor_kind"], "scan_events_per_s": _rate(reads["floor"])},
        "ratios": {
            "append_vs_library_write": _ratio(writes.services, writes.library_step_by_step),
            "store_one_order_per_transaction_vs_library": _ratio(writes.whole, writes.library_whole),
            "store_batched_vs_library": _ratio(writes.batched, writes.library_batched),
            "replay_vs_library_read": round(reads["replay_all"] / reads["library_read"], 3),
            "replay_vs_library_read_fold": round(reads["replay_all"] / reads["library_read_fold"], 3),
            "replay_single_vs_library": round(reads["replay_single"] / reads["library_replay_single"], 3),
            "replay_vs_floor": round(reads["replay_all"] / reads["floor"], 3),
        },
    }


def _rate(value: float) -> float:
    return round(value, 1)


def _optional_rate(timing: Timing) -> float | None:
    """None for a part the plan left empty (a run too small to have it)."""
    return _rate(timing.rate) if timing.count else None


def _ratio(ours: Timing, theirs: Timing) -> float | None:
    return round(ours.rate / theirs.rate, 3) if ours.count and theirs.count else None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events in each store (5 per order)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args(argv)
    plan = Plan.for_events(args.events)
    # Whatever else prints (a management command, a library) goes to stderr: stdout is the JSON.
    before = host_load()
    with contextlib.redirect_stdout(sys.stderr):
        result = measure(args.db, plan)
    result["host"] = {**before, "load_1m_after": host_load()["load_1m"]}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
