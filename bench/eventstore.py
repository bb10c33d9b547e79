"""Event store throughput: append, replay and rebuild over N events, on SQLite or PostgreSQL.

    python -m bench.eventstore --events 100000 --db sqlite
    python -m bench.eventstore --events 100000 --db postgres

Each order stream gets the lesson's four events (placed, paid, packed, shipped). The database is
a fresh one made for the run (a temp SQLite file, or the PostgreSQL database ``shop_bench``).
Prints one JSON object; the numbers are rates (events/s) measured in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PG_BENCH_DB = "shop_bench"
BATCH = 500


def prepare_database(db: str) -> str:
    if db == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='shop-bench-')}/bench.sqlite3"
    import psycopg

    with psycopg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB}")
        conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_BENCH_DB}"


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only")
    os.environ["DJANGO_SETTINGS_MODULE"] = "shop.settings"
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    call_command("seed_catalog", verbosity=0)


def lesson_stream(order_id: str, customer_id: int) -> list[Any]:
    from shop.messaging.envelope import Envelope
    from shop.messaging.names import Kind

    now = datetime.now(UTC).isoformat()
    items = [{"product_id": 1, "sku": "PROD-A", "quantity": 2, "unit_price": "24.99"}]
    facts: list[tuple[str, int, dict[str, Any]]] = [
        (
            "order.placed",
            2,
            {"user_id": customer_id, "items": items, "amount": "49.98", "currency": "EUR", "placed_at": now},
        ),
        ("order.paid", 1, {"method": "card", "paid_at": now}),
        ("order.packed", 1, {"warehouse": "W2", "packed_at": now}),
        ("order.shipped", 1, {"carrier": "DHL", "tracking": "XYZ", "shipped_at": now}),
    ]
    return [
        Envelope(
            kind=Kind.EVENT,
            type=t,
            version=v,
            correlation_id=order_id,
            producer="orders",
            data={"order_id": order_id, **d},
        )
        for t, v, d in facts
    ]


def measure_append(events: int) -> tuple[float, list[str]]:
    from django.db import transaction

    from catalog.models import Customer
    from shop.eventstore import store

    customer = Customer.objects.order_by("id").first()
    assert customer is not None
    streams = [str(uuid.uuid4()) for _ in range(events // 4)]
    started = time.perf_counter()
    for first in range(0, len(streams), BATCH // 4):
        with transaction.atomic():
            for stream in streams[first : first + BATCH // 4]:
                store.append(stream, lesson_stream(stream, customer.pk), expected_version=0)
    return time.perf_counter() - started, streams


def measure_replay_all() -> tuple[float, int]:
    """Fold every stream, reading the whole store once in position order."""
    from orders.lifecycle import evolve
    from shop.eventstore import store

    states: dict[str, dict[str, Any]] = {}
    after, count = 0, 0
    started = time.perf_counter()
    while batch := store.read_all(after_position=after, limit=5000):
        for event in batch:
            states[event.stream_id] = evolve(states.get(event.stream_id, {}), event.type, event.data)
        after, count = batch[-1].position, count + len(batch)
    elapsed = time.perf_counter() - started
    assert all(s["status"] == "shipped" for s in states.values())
    return elapsed, count


def measure_replay_streams(streams: list[str]) -> tuple[float, int]:
    """Replay single orders, as GET /api/orders/{id}/state does: one read per stream."""
    from orders.lifecycle import replay
    from shop.eventstore import store

    count = 0
    started = time.perf_counter()
    for stream in streams:
        events = store.read_stream(stream)
        replay((e.type, e.data) for e in events)
        count += len(events)
    return time.perf_counter() - started, count


def measure_rebuild() -> tuple[float, int] | None:
    try:
        from readmodel import services as readmodel_services
    except ImportError:
        return None
    from shop.models import EventRecord

    count = EventRecord.objects.count()
    started = time.perf_counter()
    readmodel_services.rebuild()
    return time.perf_counter() - started, count


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--sample-streams", type=int, default=1000)
    args = parser.parse_args(argv)

    setup_django(prepare_database(args.db))
    from django.db import connection

    append_s, streams = measure_append(args.events)
    replay_all_s, replayed = measure_replay_all()
    sample = streams[: args.sample_streams]
    replay_one_s, replayed_one = measure_replay_streams(sample)
    result: dict[str, Any] = {
        "database": connection.vendor,
        "events": replayed,
        "append_events_per_s": round(replayed / append_s),
        "replay_all_events_per_s": round(replayed / replay_all_s),
        "replay_single_orders_per_s": round(len(sample) / replay_one_s),
        "replay_single_events_per_s": round(replayed_one / replay_one_s),
    }
    rebuild = measure_rebuild()
    if rebuild is not None:
        result["rebuild_events_per_s"] = round(rebuild[1] / rebuild[0])
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
