"""How appends to the event store scale with concurrent writers on PostgreSQL: the one point of
the write side every order goes through.

    python -m bench.append_concurrency --writers 1,2,4,8 --seconds 10

Why it exists: ``store.append`` takes a transaction-scoped advisory lock on PostgreSQL so that
global positions become visible in the order they were assigned (core/eventstore/store.py). The
lock is held from the append until the transaction commits, so every process that records an
order event waits for every other one's commit. docs/scaling.md needs to know at what rate that
point saturates, and whether writers queue on the lock or on the machine's CPUs.

Each writer is a process of its own with its own connection (as the workers are), appending one
event per transaction to streams of its own (as the services do: one transition, one
transaction). For ``--seconds`` all writers append, and a sampler reads ``pg_stat_activity``
every 10 ms: the share of the writers' samples that were waiting for the advisory lock says
how much of the time was spent queueing on it. The PostgreSQL database ``shop_bench_append`` is
dropped and made fresh for the run. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
import uuid
from typing import Any

from bench import stack

DATABASE = "shop_bench_append"


def _django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()


def _migrate(database_url: str) -> None:
    stack.setup_django(database_url)


def _writer(database_url: str, start_at: float, stop_at: float, counts: Any, index: int) -> None:
    """Append events one per transaction until ``stop_at``; counts only those committed in the window."""
    _django(database_url)
    from django.db import transaction

    from core.eventstore import store
    from messaging.kernel.envelope import Envelope
    from messaging.kernel.names import Kind

    done = 0
    while time.time() < start_at:
        time.sleep(0.001)
    while time.time() < stop_at:
        stream = str(uuid.uuid4())
        for version in range(6):
            envelope = Envelope(
                kind=Kind.EVENT, type="bench.appended", version=1, correlation_id=stream, producer="bench", data={}
            )
            with transaction.atomic():
                store.append(stream, [envelope], expected_version=version, stream_type="bench")
            done += 1
            if time.time() >= stop_at:
                break
    counts[index] = done


def _sample(admin_url: str, stop_at: float) -> dict[str, int]:
    """Wait events of the writers' backends, sampled every 10 ms until ``stop_at``."""
    import psycopg

    seen: dict[str, int] = {}
    query = (
        "SELECT coalesce(wait_event_type || ':' || wait_event, state) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    with psycopg.connect(admin_url, autocommit=True) as conn:
        while time.time() < stop_at:
            for (what,) in conn.execute(query).fetchall():
                seen[what] = seen.get(what, 0) + 1
            time.sleep(0.01)
    return seen


def measure(database_url: str, writers: int, seconds: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    counts = ctx.Array("q", writers)
    start_at = time.time() + 3.0  # every process set up before the window opens
    stop_at = start_at + seconds
    procs = [ctx.Process(target=_writer, args=(database_url, start_at, stop_at, counts, i)) for i in range(writers)]
    for proc in procs:
        proc.start()
    while time.time() < start_at:
        time.sleep(0.01)
    waits = _sample(database_url, stop_at)
    for proc in procs:
        proc.join(60)
    appends = sum(int(counts[i]) for i in range(writers))
    samples = sum(waits.values()) or 1
    on_lock = waits.get("Lock:advisory", 0)
    return {
        "writers": writers,
        "appends": appends,
        "appends_per_s": round(appends / seconds, 1),
        "waiting_on_append_lock_pct": round(100 * on_lock / samples, 1),
        "wait_samples": dict(sorted(waits.items(), key=lambda kv: -kv[1])),
    }


def run(writers: list[int], seconds: float) -> dict[str, Any]:
    database_url = stack.bench_database(DATABASE)
    migrate = mp.get_context("spawn").Process(target=_migrate, args=(database_url,))
    migrate.start()
    migrate.join()
    rows = [measure(database_url, n, seconds) for n in writers]
    base = rows[0]["appends_per_s"] or 1
    for row in rows:
        row["vs_one_writer"] = round(row["appends_per_s"] / base, 3)
    return {"database": "postgres", "seconds_per_point": seconds, "cpus": os.cpu_count(), "points": rows}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.append_concurrency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", default="1,2,4,8")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(json.dumps(run([int(n) for n in args.writers.split(",")], args.seconds), indent=2))


if __name__ == "__main__":
    main()
