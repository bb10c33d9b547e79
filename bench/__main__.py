"""``python -m bench``: every measurement of issue 7, in one run, as ratios against baselines
measured in that same run. ``make bench`` runs it in full and regenerates BENCHMARKS.md and the
plots; ``--quick`` runs a reduced version of each measurement (RabbitMQ only unless
``--brokers`` says otherwise) in under a minute, for comparing two versions of the code.

Needs PostgreSQL, Redis and RabbitMQ on this machine (the workers share one database), and
takes the machine's broker lock while it measures. The fault tier takes that lock one run at a
time, so do not start a bench while a test suite runs: they would interleave and share the CPUs.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import stack

RESULTS = stack.ROOT / "bench" / "results"
SECTIONS = ("throughput", "latency", "memory", "producer", "eventstore", "workers", "scaling")
#: Sections a --quick run leaves out unless --only names them (they take minutes at any size).
NOT_QUICK = {"workers", "scaling"}
console = Console(stderr=True)


@dataclass(frozen=True)
class Sizes:
    raw_tasks: int
    orders: int
    raw_latency: int
    latency: int
    producer_orders: int
    events: int
    memory_messages: int
    #: Events in the store, and order summaries, at each point of the scaling curves.
    scaling: tuple[int, ...]


FULL = Sizes(
    raw_tasks=10_000,
    orders=400,
    raw_latency=500,
    latency=100,
    producer_orders=200,
    events=100_000,
    memory_messages=50_000,
    scaling=(10_000, 100_000, 1_000_000),
)
QUICK = Sizes(
    raw_tasks=600,
    orders=20,
    raw_latency=50,
    latency=8,
    producer_orders=10,
    events=1_500,
    memory_messages=400,
    scaling=(1_000, 3_000, 10_000),
)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a reduced version of each measurement (< 60 s)")
    parser.add_argument("--json", type=Path, help="write the results here (default: bench/results/latest.json)")
    parser.add_argument("--brokers", help="comma-separated: redis,amqp (default: both; --quick: amqp)")
    parser.add_argument("--only", help=f"comma-separated sections of {','.join(SECTIONS)}")
    parser.add_argument("--orders", type=int, help="orders per throughput run (to profile a longer one)")
    parser.add_argument("--report", action=argparse.BooleanOptionalAction, default=None, help="BENCHMARKS.md and plots")
    return parser.parse_args(argv)


def timed(label: str, measure: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    started = time.monotonic()
    console.print(f"[bold]{label}[/bold] …")
    result = measure(*args, **kwargs)
    console.print(f"  done in {time.monotonic() - started:.1f}s: {json.dumps(result)[:400]}")
    return result


def broker_sections(broker: str, sizes: Sizes, sections: set[str], results: dict[str, Any]) -> None:
    from bench import modes, raw
    from bench.noop import make_app
    from bench.workers import AppWorkers, RawWorkers, running

    space = stack.namespace(broker)
    space.reset()
    if sections & {"throughput", "latency"}:
        app = make_app(space.url)
        with running(RawWorkers(f"bench-raw-{broker}", space.url)) as raw_group:
            baseline = timed(f"{broker}: raw no-op throughput", raw.throughput, app, raw_group, sizes.raw_tasks)
            raw.create_inbox()
            writing = timed(
                f"{broker}: raw no-op + one INSERT throughput",
                raw.throughput,
                app,
                raw_group,
                sizes.raw_tasks,
                write=True,
            )
            raw_latency = timed(f"{broker}: raw no-op round trip", raw.latency, app, sizes.raw_latency)
        app.close()
        results["throughput"].setdefault(broker, {}).update(raw=baseline, raw_write=writing)
        results["latency"].setdefault(broker, {})["raw"] = raw_latency
    if sections & {"throughput", "latency", "memory"}:
        shopper = modes.prepare()
        with running(AppWorkers(f"bench-{broker}", space.url)) as group, stack.producing_to(space.url):
            for mode in ("command", "event"):
                if "throughput" in sections:
                    results["throughput"][broker][mode] = timed(
                        f"{broker}: {mode} mode throughput",
                        modes.throughput,
                        shopper,
                        mode,
                        sizes.orders,
                        group,
                        space.url,
                        {"raw": baseline, "raw_write": writing},
                    )
                if "latency" in sections:
                    results["latency"][broker][mode] = timed(
                        f"{broker}: {mode} mode end-to-end latency",
                        modes.latency,
                        shopper,
                        mode,
                        sizes.latency,
                        raw_latency["p50_ms"],
                    )
            if "memory" in sections:
                results["memory"][broker] = timed(
                    f"{broker}: worker memory over {sizes.memory_messages:,} messages",
                    modes.memory,
                    shopper,
                    group,
                    space.url,
                    sizes.memory_messages,
                )
    if "producer" in sections:
        from bench import producer_cost

        results["producer"][broker] = timed(
            f"{broker}: producer cost at 1/2/4/8 consumers",
            producer_cost.run,
            stack.namespace(broker, "producer"),
            sizes.producer_orders,
        )


def partial_results(out: Path) -> Path:
    return out.with_name(out.stem + ".partial.json")


def checkpoint(results: dict[str, Any], out: Path) -> None:
    """What a long run has measured so far, next to ``out``: a full run takes the best part of an
    hour, and a failure in its last section should not cost the sections before it."""
    partial = partial_results(out)
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_text(json.dumps(results, indent=2) + "\n")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    sizes = QUICK if args.quick else FULL
    if args.orders:
        sizes = replace(sizes, orders=args.orders)
    brokers = (args.brokers or ("amqp" if args.quick else ",".join(stack.BROKERS))).split(",")
    sections = set((args.only or ",".join(SECTIONS)).split(","))
    sections -= NOT_QUICK if args.quick and not args.only else set()
    unknown = sections - set(SECTIONS) | set(brokers) - set(stack.BROKERS)
    if unknown:
        raise SystemExit(f"unknown section or broker: {sorted(unknown)}")
    started = datetime.now(UTC)
    results: dict[str, Any] = {name: {} for name in SECTIONS}
    out = args.json or RESULTS / "latest.json"
    with stack.broker_lock():
        stack.setup_django(stack.bench_database())
        # The producer-cost section registers commands of its own (benchN.notify) for the rest of
        # the process, whose queues exist only in its namespace: every section that waits for the
        # broker's queues to drain (throughput, latency, memory, workers) runs before it.
        for broker in brokers:
            broker_sections(broker, sizes, sections - {"producer"}, results)
            checkpoint(results, out)
        if "workers" in sections:  # one broker: RabbitMQ unless the run leaves it out
            from bench import scaling_workers

            broker = "amqp" if "amqp" in brokers else brokers[0]
            scale_sizes = scaling_workers.QUICK if args.quick else scaling_workers.FULL
            results["workers"][broker] = scaling_workers.run(broker, scale_sizes, timed)
            checkpoint(results, out)
        for broker in brokers if "producer" in sections else []:
            broker_sections(broker, sizes, {"producer"}, results)
            checkpoint(results, out)
    if "eventstore" in sections:
        from bench import eventstore

        for db in ("sqlite", "postgres"):
            results["eventstore"][db] = timed(f"event store on {db}", eventstore.run, db, sizes.events)
            checkpoint(results, out)
    if "scaling" in sections:
        from bench import scaling

        for db in ("sqlite", "postgres"):
            results["scaling"][db] = timed(f"scaling curves on {db}", scaling.run, db, sizes.scaling)
            checkpoint(results, out)
    from bench.meta import describe
    from bench.targets import evaluate

    results["meta"] = describe(started, quick=args.quick, brokers=brokers, argv=argv)
    results["targets"] = evaluate(results)
    results["findings"] = [
        "How each number is measured, what the profiles showed, what was changed because of them "
        "(before and after), and where the bound is for each target missed: "
        "[docs/benchmarks.md](docs/benchmarks.md)."
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    partial_results(out).unlink(missing_ok=True)
    console.print(f"results: {out}")
    if args.report if args.report is not None else not (args.quick or args.json):
        from bench.report import write_report

        for path in write_report(results, markdown=stack.ROOT / "BENCHMARKS.md", plots_dir=RESULTS):
            console.print(f"wrote {path.relative_to(stack.ROOT)}")
    for target in results["targets"]:
        mark = "[green]met[/green]" if target["met"] else "[red]missed[/red]"
        where = target.get("broker") or target.get("database")
        console.print(f"{target['label']} ({where}): {target['ratio']} {mark}")
    return results


if __name__ == "__main__":
    main()
