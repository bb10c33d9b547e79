"""What one message costs a worker to handle, without a broker: two source trees, alternated.

Why: a throughput run's rate moves with everything else on the machine (the broker, the
producer, other processes on two CPUs), so a change that saves a tenth of the handlers' Python
drowns in its noise. This runs exactly what a worker runs for each message, the kernel's
``deliver_event`` for every service's event queue (each service sees every event, as on the
fanout exchange) and ``deliver_command`` for each command with its registered handler, on
PostgreSQL, in one process per round with no broker: the published messages are caught by a
transport that keeps them in a list, and handled in the order they were sent until none is
left. What Celery adds around a task (receive, prefork hand-over, ack) is the same for both
trees and left out on purpose.

Each round runs a child process per tree, old then new then old ... (the two trees cannot share
one interpreter: same module names), each on its own database, placing ``--orders`` orders
(not timed) and then handling every message they cause (timed). It reports the child's CPU
time, the PostgreSQL backend's CPU time (``pg_backend_pid``) and the wall time per handled
message, the medians over the rounds, and new / old ratios.

    python -m bench.handler_cost --old /work/main --new . --mode event --rounds 5

Run it under the measurement lock (docs/benchmarks.md, "The rules").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
MEASURES = ("cpu_ms", "pg_cpu_ms", "wall_ms")


def child(mode: str, orders: int, warmup: int, database_url: str) -> dict[str, Any]:
    """One tree's measurement (the current directory's code): run in a fresh process."""
    import psutil

    from bench import stack

    stack.setup_django(database_url)
    from django.db import connection
    from django.utils.module_loading import autodiscover_modules

    from bench.modes import place, prepare
    from messaging import bootstrap
    from messaging.kernel import consuming, wiring
    from messaging.kernel.envelope import Envelope
    from messaging.kernel.names import Kind
    from messaging.kernel.routing import queue_for
    from messaging.kernel.subscriptions import services

    sent: deque[dict[str, Any]] = deque()

    class Catch:
        """The broker: keeps each published envelope as the wire carries it (JSON)."""

        def deliver(self, envelope: Envelope) -> str:
            sent.append(json.loads(json.dumps(envelope.to_wire())))
            return "caught"

    bootstrap.configure(transport=Catch())
    autodiscover_modules("tasks")  # the command handlers register as their modules load, as in a worker
    commands = {r.name: r for r in wiring._commands}
    consumers = services()

    def drain() -> int:
        handled = 0
        while sent:
            wire = sent.popleft()
            if wire["kind"] == Kind.EVENT.value:
                for service in consumers:
                    result = consuming.deliver_event(service, wire, queue=f"{service}.events")
                    handled += result.status == "handled"
            else:
                r = commands[wire["type"]]
                result = consuming.deliver_command(
                    r.service,
                    r.name,
                    wire,
                    r.handler,
                    queue=queue_for(r.name) or r.name,
                    policy=r.retry,
                    before=r.before,
                )
                handled += result.status == "handled"
        return handled

    shopper = prepare()
    place(shopper, mode, warmup)
    drain()  # warm: imports, statement caches, the connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = psutil.Process(cursor.fetchone()[0])
    place(shopper, mode, orders)
    pg_before, cpu_before, wall_before = _cpu(backend), time.process_time(), time.perf_counter()
    handled = drain()
    wall, cpu, pg = time.perf_counter() - wall_before, time.process_time() - cpu_before, _cpu(backend) - pg_before
    assert handled > 0, "nothing was handled"
    per = 1000 / handled
    return {"handled": handled, "cpu_ms": cpu * per, "pg_cpu_ms": pg * per, "wall_ms": wall * per}


def _cpu(process: Any) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def run_tree(tree: Path, mode: str, orders: int, warmup: int, database_url: str) -> dict[str, Any]:
    """This file, run as a child with ``tree`` first on the path (its code, this harness)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    args = [sys.executable, str(HERE), "--child", mode, str(orders), str(warmup), database_url]
    out = subprocess.run(args, cwd=tree, env=env, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", type=Path, required=True, help="the tree before the change")
    parser.add_argument("--new", type=Path, default=HERE.parents[1], help="the tree after (default: this one)")
    parser.add_argument("--mode", choices=["event", "command"], default="event")
    parser.add_argument("--orders", type=int, default=100, help="orders whose messages are timed, per round")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db-prefix", default="handler_cost")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    from bench import stack

    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    urls = {name: stack.bench_database(f"{args.db_prefix}_{name}") for name in trees}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for round_ in range(args.rounds):
        order = ("old", "new") if round_ % 2 == 0 else ("new", "old")
        for name in order:
            runs[name].append(run_tree(trees[name], args.mode, args.orders, args.warmup, urls[name]))
            print(f"round {round_ + 1} {name}: {_line(runs[name][-1])}", flush=True)
    medians = {name: {m: statistics.median(r[m] for r in runs[name]) for m in MEASURES} for name in trees}
    ratios = {m: round(medians["new"][m] / medians["old"][m], 3) for m in MEASURES}
    report = {
        "mode": args.mode,
        "orders": args.orders,
        "rounds": args.rounds,
        "trees": {k: str(v) for k, v in trees.items()},
    }
    report |= {"runs": runs, "medians": medians, "new_over_old": ratios}
    print(f"medians old: {_line(medians['old'])}\nmedians new: {_line(medians['new'])}\nnew / old: {ratios}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    _drop(f"{args.db_prefix}_old", f"{args.db_prefix}_new")
    return report


def _line(r: dict[str, Any]) -> str:
    return ", ".join(f"{m} {r[m]:.2f}" for m in MEASURES) + (f" ({r['handled']} handled)" if "handled" in r else "")


def _drop(*names: str) -> None:
    import psycopg

    from bench.stack import PG_ADMIN_URL

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        for name in names:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        mode, orders, warmup, url = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
        sys.path[0] = os.getcwd()  # the tree's code, not this file's directory
        print(json.dumps(child(mode, orders, warmup, url)))
    else:
        main()
