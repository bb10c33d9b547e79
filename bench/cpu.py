"""CPU time spent per message, by kind of process: where a throughput bound comes from.

On a machine whose CPUs are all busy, a rate only says that the whole system is saturated. The
CPU seconds each kind of process spent during a run, divided by the messages handled, say who
pays for a message: the worker processes (Celery, kombu, the app's handlers), the producer (this
process), PostgreSQL's backends, and the broker.
"""

from __future__ import annotations

from collections.abc import Iterable

import psutil

from tests.integration.workers import WorkerGroup

BROKER_PROCESSES = {"beam.smp", "redis-server"}


def _seconds(processes: Iterable[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += times.user + times.system
    return total


def _tree(pid: int) -> list[psutil.Process]:
    try:
        main = psutil.Process(pid)
        return [main, *main.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def snapshot(group: WorkerGroup) -> dict[str, float]:
    named: dict[str, list[psutil.Process]] = {"postgres": [], "broker": []}
    for process in psutil.process_iter(["name"]):
        name = process.info["name"] or ""
        if name == "postgres":
            named["postgres"].append(process)
        elif name in BROKER_PROCESSES:
            named["broker"].append(process)
    workers = [p for proc in group.processes.values() for p in _tree(proc.pid)]
    if group.relay_process is not None:
        workers += _tree(group.relay_process.pid)
    return {
        "workers": _seconds(workers),
        "producer": _seconds([psutil.Process()]),
        "postgres": _seconds(named["postgres"]),
        "broker": _seconds(named["broker"]),
    }


def per_message(before: dict[str, float], after: dict[str, float], messages: int) -> dict[str, float]:
    """Milliseconds of CPU per message, by kind of process, between two snapshots.

    PostgreSQL backends that exit in between take their CPU time with them; the workers keep
    their connections (CONN_MAX_AGE), so few do."""
    spent = {kind: after[kind] - before[kind] for kind in before}
    out = {kind: round(seconds * 1000 / messages, 3) for kind, seconds in spent.items()}
    out["total"] = round(sum(spent.values()) * 1000 / messages, 3)
    return out
