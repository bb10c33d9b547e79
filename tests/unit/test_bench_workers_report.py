"""BENCHMARKS.md's "Throughput against worker processes": the tables, the CPU-bound arithmetic and
the plot say what the results say. No timing here: the numbers are made up, chosen so that the
arithmetic comes out round."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")

from bench import report_workers
from bench.report import render_markdown, write_report

PNG = b"\x89PNG\r\n\x1a\n"


def _cpu(workers: float, postgres: float, broker: float, producer: float) -> dict[str, float]:
    return {
        "workers": workers,
        "producer": producer,
        "postgres": postgres,
        "broker": broker,
        "total": workers + producer + postgres + broker,
    }


def _inventory(processes: int, rate: float, vs: float) -> dict[str, Any]:
    return {
        "processes": processes,
        "pool_slots": 2 * processes,
        "backlog": 1200,
        "handled_before_ready": 100 * processes,
        "handled": 1200 - 100 * processes,
        "seconds": round((1200 - 100 * processes) / rate, 3),
        "handled_per_s": rate,
        "cpu_ms_per_handled": _cpu(5.0, 2.0, 0.5, 0.5),  # 8 ms in all: 125 msgs/s per CPU
        "cpus_used": 1.6,
        "machine_busy_pct": 97.0,
        "vs_fewest": vs,
    }


def _mode(rate: float, vs: float, total_workers: float) -> dict[str, Any]:
    return {
        "orders": 120,
        "seconds": 960 / rate,
        "orders_per_s": rate / 8,
        "placed_per_s": 12.0,
        "handled": 960,
        "handled_per_s": rate,
        "cpu_ms_per_handled": _cpu(total_workers, 3.0, 1.0, 2.0),
        "cpus_used": 1.9,
        "machine_busy_pct": 99.0,
        "vs_fewest": vs,
    }


def workers_section() -> dict[str, Any]:
    """A whole ``workers`` entry of the results, for one broker."""
    return {
        "broker_url": "amqp://guest:**@127.0.0.1:5672/shop_bench_workers",
        "cpus": 2,
        "products": 64,
        "inventory": [_inventory(1, 160.0, 1.0), _inventory(2, 200.0, 1.25), _inventory(4, 196.0, 1.225)],
        "flow": [
            {"processes_per_service": n, "processes": 7 * n, "pool_slots": 10 * n} | modes
            for n, modes in (
                (1, {"command": _mode(80.0, 1.0, 14.0), "event": _mode(100.0, 1.0, 10.0)}),
                (2, {"command": _mode(84.0, 1.05, 14.0), "event": _mode(98.0, 0.98, 10.0)}),
            )
        ],
    }


@pytest.fixture
def results() -> dict[str, Any]:
    return {"meta": {"machine": {"cpus": 2}}, "workers": {"amqp": workers_section()}}


def _section(text: str) -> str:
    return text[text.index("## Throughput against worker processes") :]


def _row(markdown: str, *first_cells: str) -> list[str]:
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[: len(first_cells)] == list(first_cells):
            return cells
    raise AssertionError(f"no row {first_cells!r}")


def test_inventory_rows_show_rate_speedup_and_cpu(results: dict[str, Any]) -> None:
    section = _section(render_markdown(results))
    assert "### RabbitMQ" in section
    assert "Inventory, 1,200 reservations published ahead of each point:" in section
    assert _row(section, "1")[1:5] == ["2", "1,100 msgs in 6.9 s (100 before all were ready)", "160.0", "1.00×"]
    assert _row(section, "4")[3:] == ["196.0", "1.23×", "5.00", "2.00", "0.50", "0.50", "8.00", "1.60", "97%"]


def test_flow_rows_per_mode_and_processes(results: dict[str, Any]) -> None:
    section = _section(render_markdown(results))
    assert _row(section, "2", "command mode")[2:8] == ["14", "20", "120 orders in 11.4 s", "10.5", "84.0", "1.05×"]
    assert _row(section, "1", "event mode")[8:] == ["10.00", "3.00", "1.00", "2.00", "16.00", "1.90", "99%"]


def test_cpu_bound_arithmetic(results: dict[str, Any]) -> None:
    section = _section(render_markdown(results))
    inventory = next(line for line in section.splitlines() if line.startswith("- **Inventory reservations**"))
    assert "costs 8.0 CPU ms in all (5.0 in the workers, 2.5 in PostgreSQL and the broker)" in inventory
    assert "each more CPU buys about **125 msgs/s**" in inventory
    assert "2 CPUs top out near 250 msgs/s, and the run reached 196.0 (78% of it)" in inventory
    assert "(200 msgs/s per worker CPU)" in inventory and "one CPU per 400 msgs/s of the total" in inventory
    command = next(line for line in section.splitlines() if line.startswith("- **Whole flow, command mode**"))
    assert "costs 20.0 CPU ms in all" in command and "**50 msgs/s** (6.2 orders/s)" in command


def test_capacity_is_the_cost_turned_around() -> None:
    point = {"handled_per_s": 100.0, "cpu_ms_per_handled": _cpu(6.0, 3.0, 1.0, 0.0)}
    c = report_workers.capacity(point, 4)
    assert c == {
        "total_ms": 10.0,
        "workers_ms": 6.0,
        "shared_ms": 4.0,
        "per_cpu": 100.0,
        "per_worker_cpu": pytest.approx(1000 / 6),
        "per_shared_cpu": 250.0,
        "cpus": 4,
        "ceiling": 400.0,
        "of_ceiling": 0.25,
    }
    assert report_workers.capacity({"handled_per_s": 1.0}, 2) is None, "no CPU measured: no arithmetic"


def test_not_measured_says_so(results: dict[str, Any]) -> None:
    assert "*Not measured in this run.*" in _section(render_markdown({}))
    partial = copy.deepcopy(results)
    del partial["workers"]["amqp"]["flow"]
    section = _section(render_markdown(partial))
    assert "Whole flow, command mode" not in section and "Inventory reservations" in section
    assert report_workers.figure({}) is None


def test_plot_written_and_embedded(results: dict[str, Any], tmp_path: Path) -> None:
    markdown = tmp_path / "BENCHMARKS.md"
    written = write_report(results, markdown=markdown, plots_dir=tmp_path / "png")
    [plot] = [p for p in written if p.name == "workers.png"]
    assert plot.read_bytes().startswith(PNG)
    assert "![Throughput against worker processes](png/workers.png)" in markdown.read_text()
    assert report_workers.write_plot({"workers": {}}, tmp_path / "none") == {}
