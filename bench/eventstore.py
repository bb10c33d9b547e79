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

The parts: the plan and the databases (bench/eventstore_workload.py), the writes
(bench/eventstore_writes.py) and the reads (bench/eventstore_reads.py); this module runs them,
in a subprocess of its own, and reports the rates.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import eventsourcing_baseline as baseline
from bench.eventsourcing_baseline import Timing
from bench.eventstore_reads import PAGE, REPEATS, measure_rebuild, read_both, replay_sample
from bench.eventstore_workload import LIFECYCLE, Plan, fresh_database, library_env, note, setup_django, wire_buses
from bench.eventstore_writes import FILL_BATCH, Writes, write_both

ROOT = Path(__file__).resolve().parents[1]


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
