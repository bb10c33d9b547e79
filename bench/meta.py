"""Where and with what a run was measured: numbers from another machine or version are not
comparable, so every result file says which ones it came from."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from bench import stack


def _package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _server_versions() -> dict[str, str]:
    out = {}
    try:
        import psycopg

        with psycopg.connect(stack.PG_ADMIN_URL) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            out["postgres"] = str(row[0]) if row else "?"
    except Exception as exc:  # noqa: BLE001 - a version string is not worth failing a run for
        out["postgres"] = f"unknown ({type(exc).__name__})"
    try:
        import redis as redis_py

        out["redis"] = str(redis_py.Redis.from_url(stack.REDIS_HOST).info("server")["redis_version"])
    except Exception as exc:  # noqa: BLE001
        out["redis"] = f"unknown ({type(exc).__name__})"
    try:
        done = subprocess.run(["rabbitmqctl", "version"], capture_output=True, text=True, timeout=60)
        out["rabbitmq"] = done.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError) as exc:
        out["rabbitmq"] = f"unknown ({type(exc).__name__})"
    return out


def describe(started: datetime, *, quick: bool, brokers: list[str], argv: list[str] | None) -> dict[str, Any]:
    import psutil

    from bench.workers import pool_slots
    from tests.integration.workers import procfile_workers

    finished = datetime.now(UTC)
    return {
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": finished.isoformat(timespec="seconds"),
        "duration_s": round((finished - started).total_seconds(), 1),
        "quick": quick,
        "command": "python -m bench " + " ".join(argv or []) if argv else "python -m bench",
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(),
            "python": platform.python_version(),
            **{name: _package(name) for name in ("django", "celery", "kombu", "redis", "eventsourcing")},
            **_server_versions(),
        },
        "brokers": {b: stack.namespace(b).url.replace("guest:guest", "guest:**") for b in brokers},
        "workers": {"processes": len(procfile_workers()), "pool_slots": pool_slots()},
    }
