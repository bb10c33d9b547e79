"""How cost grows with the data: replay and rebuild rates, and dashboard queries, at growing sizes.

    python -m bench.scaling --db sqlite --sizes 10000,100000,1000000
    python -m bench.scaling --db postgres --sizes 10000,100000,1000000

Prints one JSON object, measured on a database made for it (a temp SQLite file, or the
PostgreSQL database ``shop_bench_scale``, dropped and created). ``run(db, sizes)`` does the same
in a subprocess and returns the object: Django sets itself up once per process, for one database.

What is measured, and why this way:

- **Replay and rebuild.** The store grows in one database: seeded to the first size, measured,
  filled up to the next, measured again, so each size costs only the events it adds. Seeding
  copies the events of one real order (bench/scaling_seed.py), in bulk. Replay is the whole-store
  fold of bench/eventstore_reads.py's ``measure_replay_all`` (the median of ``REPEATS`` below a
  million events, one run above); rebuild is ``readmodel.services.rebuild``, which drops the read
  model and projects every event again (``measure_rebuild``). Both are events per second: a flat
  curve means the cost of an event does not depend on how many there are.
- **Dashboard queries.** The event store's summaries are dropped and ``OrderSummary`` is filled
  directly to each size with the searched values rare (bench/scaling_seed.py), then ANALYZEd (on
  PostgreSQL ``VACUUM ANALYZE``, as autovacuum would). Each filter's query is the queryset
  GET /api/dashboard runs (``selectors.dashboard(...)[:limit]`` with the parameters parsed by the
  API's own schema), timed until ``SAMPLES`` runs or ``BUDGET_S`` seconds; p50 and p95 are kept,
  with the indexes the plan reads (EXPLAIN), so a jump in a curve can be matched to a plan.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench import stack
from bench.stats import latency_summary, percentile

ROOT = Path(__file__).resolve().parents[1]
#: Dropped and created by every PostgreSQL run: never point this at a database you keep.
PG_SCALE_DB = "shop_bench_scale"
FULL_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 3_000, 10_000)
#: Replays are repeated (the median kept) below this many events; one run is long enough above.
REPEAT_BELOW = 1_000_000
REPEATS = 3
#: Per dashboard filter and size: at most SAMPLES runs, at least MIN_SAMPLES, within BUDGET_S.
SAMPLES, MIN_SAMPLES, BUDGET_S = 200, 20, 2.0
#: The rate across sizes "stays flat" if the slowest is within this of the fastest.
FLAT_WITHIN = 0.20

#: GET /api/dashboard's query parameters per filter, as in tests/unit/test_dashboard_plans.py.
FILTERS: dict[str, dict[str, str]] = {
    "newest first": {},
    "status": {"status": "paid"},
    "status (rare)": {"status": "on_hold"},
    "flagged": {"flagged": "true"},
    "not flagged": {"flagged": "false"},
    "min_total": {"min_total": "20000.00"},
    "customer": {"customer": "zelda"},
    "every filter": {"status": "on_hold", "customer": "zelda", "flagged": "true", "min_total": "1"},
}


def run(db: str, sizes: Sequence[int]) -> dict[str, Any]:
    """Measure ``db`` ("sqlite" or "postgres") at ``sizes`` in a subprocess."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.scaling", "--db", db, "--sizes", ",".join(map(str, sizes))],
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


STARTED = time.perf_counter()


def note(message: str) -> None:
    """Progress for whoever watches a long run; stdout carries only the JSON."""
    print(f"[scaling {time.perf_counter() - STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def fresh_database(db: str, pg_name: str = PG_SCALE_DB) -> Iterator[str]:
    """A database URL for a new, empty database; a SQLite one is deleted afterwards. ``pg_name``
    lets a second run (a profile, another worktree) use a database of its own."""
    if db == "sqlite":
        folder = tempfile.mkdtemp(prefix="shop-bench-scale-")
        try:
            yield f"sqlite:///{folder}/bench.sqlite3"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    yield stack.bench_database(pg_name)


def analyze(model: Any) -> None:
    """Fresh statistics after a bulk load, as autovacuum would give them (and on PostgreSQL a
    visibility map, so index-only scans are possible)."""
    from django.db import connection

    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}" if connection.vendor == "postgresql" else f"ANALYZE {table}")


def spread(rates: Sequence[float]) -> dict[str, Any]:
    """How far the slowest rate is below the fastest: ``1 - min/max``, and whether that is within
    ``FLAT_WITHIN``."""
    if not rates or max(rates) <= 0:
        return {"spread": None, "flat": None}
    value = 1 - min(rates) / max(rates)
    return {"spread": round(value, 3), "flat": value <= FLAT_WITHIN}


def measure_store(sizes: Sequence[int]) -> dict[str, Any]:
    """Replay and rebuild rates as the store grows through ``sizes`` (events)."""
    from bench.eventstore_reads import measure_rebuild, measure_replay_all, median_rate
    from bench.eventstore_workload import LIFECYCLE
    from bench.eventstore_writes import recorded_facts, ship_through_services
    from bench.scaling_seed import seed_events
    from core.models import EventRecord

    template = recorded_facts(ship_through_services())
    points: list[dict[str, Any]] = []
    for size in sizes:
        orders = size // len(LIFECYCLE) - EventRecord.objects.count() // len(LIFECYCLE)
        started = time.perf_counter()
        seed_events(template, max(orders, 0))
        seeded = time.perf_counter() - started
        analyze(EventRecord)
        events = EventRecord.objects.count()
        note(f"{events:,} events ({orders:,} orders seeded in {seeded:.1f} s); replaying")
        replays = [measure_replay_all() for _ in range(REPEATS if size < REPEAT_BELOW else 1)]
        note("rebuilding the read model")
        rebuild = measure_rebuild()
        assert rebuild.count == events, (rebuild.count, events)
        points.append(
            {
                "events": events,
                "seed_events_per_s": round(orders * len(LIFECYCLE) / seeded, 1) if seeded > 0 else None,
                "replay_events_per_s": round(median_rate(replays), 1),
                "replay_runs": len(replays),
                "rebuild_events_per_s": round(rebuild.rate, 1),
                "rebuild_s": round(rebuild.seconds, 2),
            }
        )
        note(f"measured: {json.dumps(points[-1])}")
    return {
        "points": points,
        "replay": spread([p["replay_events_per_s"] for p in points]),
        "rebuild": spread([p["rebuild_events_per_s"] for p in points]),
    }


def indexes_read(plan: str, vendor: str) -> list[str]:
    """The indexes a plan reads (PostgreSQL's and SQLite's wording), or the table scan."""
    if vendor == "postgresql":
        pattern = r"(?:Index Scan|Index Only Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\w+)"
        found = re.findall(pattern, plan)
        return found + (["seq scan"] if "Seq Scan" in plan else [])
    found = re.findall(r"USING (?:COVERING )?INDEX (\w+)", plan)
    return found + (["table scan"] if re.search(r"\bSCAN \w+\s*$", plan, re.MULTILINE) else [])


def time_filter(params: dict[str, str]) -> dict[str, Any]:
    """The API's query for ``params``, run until ``SAMPLES`` or ``BUDGET_S``: p50, p95, plan."""
    from django.db import connection

    from readmodel import selectors
    from readmodel.api import DashboardFilters

    filters = DashboardFilters(**params)  # type: ignore[arg-type]  # the API parses strings too
    queryset = selectors.dashboard(
        status=filters.status,
        customer=filters.customer,
        flagged=filters.flagged,
        min_total=filters.min_total_amount(),
    )[: filters.limit]
    rows = len(list(queryset.all()))  # a warm-up run, and how many rows the page holds
    seconds: list[float] = []
    deadline = time.perf_counter() + BUDGET_S
    while len(seconds) < SAMPLES and (len(seconds) < MIN_SAMPLES or time.perf_counter() < deadline):
        started = time.perf_counter()
        list(queryset.all())  # .all(): a fresh queryset each time, so nothing is served from its cache
        seconds.append(time.perf_counter() - started)
    summary = latency_summary(seconds)
    return {
        "samples": summary["samples"],
        "p50_ms": summary["p50_ms"],
        "p95_ms": round(percentile([s * 1000 for s in seconds], 95), 3),
        "rows": rows,
        "plan_indexes": indexes_read(queryset.explain(), connection.vendor),
    }


def measure_dashboard(sizes: Sequence[int]) -> dict[str, Any]:
    """Each filter's p50 and p95 as the summary table grows through ``sizes`` (rows)."""
    from bench.scaling_seed import seed_summaries
    from readmodel.models import OrderSummary, ProjectionTracking

    ProjectionTracking.objects.all().delete()
    OrderSummary.objects.all().delete()
    points = []
    for size in sizes:
        have = OrderSummary.objects.count()
        started = time.perf_counter()
        seed_summaries(have, size)
        analyze(OrderSummary)
        note(f"{size:,} order summaries (seeded in {time.perf_counter() - started:.1f} s); timing the dashboard")
        points.append({"summaries": size, "filters": {name: time_filter(p) for name, p in FILTERS.items()}})
        note(f"measured: {json.dumps(points[-1])}")
    return {"points": points, "filters": FILTERS}


def measure(
    db: str, sizes: Sequence[int], parts: Sequence[str] = ("store", "dashboard"), pg_name: str = PG_SCALE_DB
) -> dict[str, Any]:
    with fresh_database(db, pg_name) as database_url:
        note(f"{db}: sizes {', '.join(f'{s:,}' for s in sizes)}")
        stack.setup_django(database_url)
        from django.db import connection

        from bench.eventstore_workload import wire_buses
        from catalog.models import Product

        wire_buses()
        Product.objects.update(stock=10)
        result: dict[str, Any] = {"database": "postgres" if connection.vendor == "postgresql" else connection.vendor}
        result["sizes"] = list(sizes)
        if "store" in parts:
            result["store"] = measure_store(sizes)
        if "dashboard" in parts:
            result["dashboard"] = measure_dashboard(sizes)
        return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--sizes", default=",".join(map(str, FULL_SIZES)), help="comma-separated, growing")
    parser.add_argument("--parts", default="store,dashboard", help="store (replay, rebuild), dashboard, or both")
    parser.add_argument("--pg-db", default=PG_SCALE_DB, help="the PostgreSQL database to drop and create")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    started = time.perf_counter()
    # Whatever else prints (a management command, a library) goes to stderr: stdout is the JSON.
    with contextlib.redirect_stdout(sys.stderr):
        result = measure(args.db, sizes, args.parts.split(","), args.pg_db)
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
