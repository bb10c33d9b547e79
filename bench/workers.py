"""The worker processes a measurement runs against, started and stopped like the integration
tier's (tests/integration/workers.py): the Procfile's workers for the app, and for the baseline
the same number of processes with the same pool sizes running the raw no-op."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.integration.workers import WorkerGroup, procfile_workers


@dataclass
class AppWorkers(WorkerGroup):
    """One process per service, exactly the Procfile's command lines, plus the outbox relay."""

    relay: bool = True
    settings_module: str = "bench.settings"


@dataclass
class RawWorkers(WorkerGroup):
    """As many processes as the Procfile has workers, each with that worker's pool size and log
    level, consuming the no-op queue."""

    settings_module: str = "bench.settings"

    def command(self, service: str) -> list[str]:
        from bench.noop import QUEUE

        procfile = procfile_workers()[service]
        concurrency = procfile[procfile.index("--concurrency") + 1]
        argv = ["celery", "-A", "bench.noop", "worker", "-Q", QUEUE, "--concurrency", concurrency]
        return [*argv, *(["-E"] if "-E" in procfile else []), "--loglevel", procfile[procfile.index("--loglevel") + 1]]

    def env(self) -> dict[str, str]:
        return {**super().env(), "BENCH_BROKER_URL": self.broker_url}


def pool_slots() -> int:
    """Worker pool slots over all Procfile workers (prefork children)."""
    total = 0
    for argv in procfile_workers().values():
        total += int(argv[argv.index("--concurrency") + 1])
    return total


@contextmanager
def running(group: WorkerGroup) -> Iterator[WorkerGroup]:
    group.start(timeout=120)
    try:
        yield group
    finally:
        group.stop()


def rss_mb(group: WorkerGroup) -> dict[str, float]:
    """Resident memory of each worker: its main process plus its pool's children."""
    import psutil

    out = {}
    for name, proc in group.processes.items():
        main = psutil.Process(proc.pid)
        family = [main, *main.children(recursive=True)]
        out[name] = sum(p.memory_info().rss for p in family) / 2**20
    return out
