"""The read-model rebuild before and after, in one process, as the store grows.

    python -m bench.rebuild_steps --db postgres --before 15b87d7 --sizes 10000,100000,400000

Prints one JSON object. The store is seeded as bench/scaling.py seeds it (one order through the
services, copied in bulk, interleaved by chunks: bench/scaling_seed.py), to each size in turn;
at each size the rebuild of the ``--before`` commit (``readmodel/services.py`` loaded from git as
a module of its own) and this tree's run in turns, ``--rounds`` times each (fewer above
``--fewer-above`` events, where one rebuild takes a minute), and the median rates are kept.
The database is made for the run (``storeproto_rebuild`` on PostgreSQL) and dropped after it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from typing import Any

from bench.eventstore_steps import before_module, database, rounds
from bench.eventstore_workload import note, wire_buses


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from bench import stack

    with database(args.db, args.pg_db) as url:
        stack.setup_django(url)
        wire_buses()
        from django.db import connection

        from bench.eventsourcing_baseline import Timing
        from bench.eventstore_workload import LIFECYCLE
        from bench.eventstore_writes import recorded_facts, ship_through_services
        from bench.scaling import analyze
        from bench.scaling_seed import seed_events
        from catalog.models import Product
        from core.models import EventRecord
        from readmodel import services

        Product.objects.update(stock=10)
        before = before_module(args.before, "readmodel/services.py", "readmodel_before")
        template = recorded_facts(ship_through_services())

        def side(rebuild: Any) -> Any:
            def run() -> Timing:
                started = time.perf_counter()
                report = rebuild()
                return Timing(report.events, time.perf_counter() - started)

            return run

        points = []
        for size in sorted(int(s) for s in args.sizes.split(",")):
            seed_events(template, max(size // len(LIFECYCLE) - EventRecord.objects.count() // len(LIFECYCLE), 0))
            analyze(EventRecord)
            count = args.rounds if size <= args.fewer_above else max(1, args.rounds // 2)
            note(f"{EventRecord.objects.count():,} events: {count} rounds")
            rates = rounds({"before": side(before.rebuild), "after": side(services.rebuild)}, count)
            point = {"events": EventRecord.objects.count(), "rounds": count}
            point |= {f"{name}_events_per_s": round(statistics.median(r), 1) for name, r in rates.items()}
            ratios = [a / b for a, b in zip(rates["after"], rates["before"], strict=True)]
            point["after_vs_before"] = round(statistics.median(ratios), 3)
            note(json.dumps(point))
            points.append(point)
        return {"database": connection.vendor, "before": args.before, "points": points}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--before", required=True, help="the commit whose readmodel/services.py is 'before'")
    parser.add_argument("--sizes", default="10000,100000,400000")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--fewer-above", type=int, default=150_000)
    parser.add_argument("--pg-db", default="storeproto_rebuild")
    args = parser.parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):
        result = measure(args)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
