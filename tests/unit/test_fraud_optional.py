"""'In event mode, adding fraud to INSTALLED_APPS is the only change needed.'

Two real runs in subprocesses, each with its own SQLite file and an in-process Celery worker on
memory://: the project's test settings, and the same settings minus 'fraud'. The same order
(Mallory buying the grinder, risk 0.85) is held with fraud installed and simply confirmed without
it, while the orders code both runs load is byte for byte the same files.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "tests.unit._scripts.settle_event_order"
MARKER = "RESULT:"
TIMEOUT = 120

SETTINGS = {"with_fraud": "tests.settings", "without_fraud": "tests.settings_without_fraud"}


def _env(settings_module: str, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DATABASE_URL", "CELERY_"))}
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        DATABASE_URL=f"sqlite:///{tmp / 'shop.sqlite3'}",
        SHOP_VAR_DIR=str(tmp),
        CELERY_BROKER_URL="memory://",
        SHOP_FLOW_MODE="event",
        SHOP_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """Both runs at once (they share nothing but the source tree)."""
    procs = {}
    for name, module in SETTINGS.items():
        tmp = tmp_path_factory.mktemp(name)
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", SCRIPT],
            cwd=ROOT,
            env=_env(module, tmp),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    results: dict[str, dict[str, Any]] = {}
    try:
        for name, proc in procs.items():
            try:
                out, err = proc.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                pytest.fail(f"{name} run did not finish in {TIMEOUT}s:\n{err[-3000:]}")
            lines = [line for line in out.splitlines() if line.startswith(MARKER)]
            assert proc.returncode == 0 and lines, (
                f"{name} run failed ({proc.returncode}):\n{out[-2000:]}\n{err[-3000:]}"
            )
            results[name] = json.loads(lines[-1][len(MARKER) :])
        yield results
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _disk_hashes() -> dict[str, str]:
    return {
        str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (ROOT / "orders").rglob("*.py")
        if "__pycache__" not in p.parts
    }


def test_both_runs_settle(runs: dict[str, dict[str, Any]]) -> None:
    for name, run in runs.items():
        assert run["settled"], f"{name}: still waiting for {run['unsettled']} ({run['messages']})"
        assert run["dead_letters"] == 0, name
        assert run["customer_id"] == 3, "Mallory is the third seeded customer"


def test_without_fraud_the_order_is_confirmed(runs: dict[str, dict[str, Any]]) -> None:
    run = runs["without_fraud"]
    assert "fraud" not in run["installed_apps"]
    assert run["status"] == "confirmed", run["messages"]
    assert run["risk_score"] is None
    assert "fraud" not in run["services"]
    assert all("fraud" not in services for services in run["subscribers"].values())
    assert run["subscribers"]["order.placed"] == ["inventory", "payments", "projector"]
    assert "fraud" not in run["top_level_modules"], "nothing imported the fraud app"
    assert not any("order.flagged" in m for m in run["messages"])


def test_with_fraud_the_same_order_is_held(runs: dict[str, dict[str, Any]]) -> None:
    run = runs["with_fraud"]
    assert "fraud" in run["installed_apps"]
    assert run["status"] == "on_hold", run["messages"]
    assert run["risk_score"] == 0.85
    assert "mailinator.com" in run["hold_reason"]
    assert "fraud" in run["subscribers"]["order.placed"]
    assert "order.flagged@orders:handled" in run["messages"]


def test_the_only_difference_is_installed_apps(runs: dict[str, dict[str, Any]]) -> None:
    with_fraud, without = runs["with_fraud"], runs["without_fraud"]
    assert [a for a in with_fraud["installed_apps"] if a != "fraud"] == without["installed_apps"]
    # The subscriber table differs by fraud's line only.
    stripped = {event: [s for s in services if s != "fraud"] for event, services in with_fraud["subscribers"].items()}
    assert {k: v for k, v in stripped.items() if v} == without["subscribers"]


def test_both_runs_loaded_the_same_orders_files_unchanged(runs: dict[str, dict[str, Any]]) -> None:
    with_fraud, without = runs["with_fraud"]["orders_modules"], runs["without_fraud"]["orders_modules"]
    assert with_fraud == without
    assert {"orders.flows.eventing", "orders.services", "orders.handlers"} <= set(without)
    disk = _disk_hashes()
    for module in without.values():
        assert disk[module["path"]] == module["sha256"], module["path"]
