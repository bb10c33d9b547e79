"""BENCHMARKS.md generation: the text follows the results JSON, partial runs say what they skipped,
and every plot is a real PNG. No timing here: the numbers are made up and only their shape matters."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")

from bench import plots
from bench.report import main, render_markdown, write_report
from bench.report_tables import ratio
from tests.unit.test_bench_workers_report import workers_section

PNG = b"\x89PNG\r\n\x1a\n"
NOT_MEASURED_RE = re.compile("not measured", re.IGNORECASE)
SERVICES = ("orders", "inventory", "payments", "analytics", "fraud", "notifications", "projector")


def _broker(slowdown: float, flat: bool) -> dict[str, Any]:
    subscribers = (1, 2, 4, 8)
    mode = {"orders": 1000, "seconds": 40.0, "orders_per_s": 25.0, "handled": 9000, "handled_per_order": 9.0}
    return {
        "throughput": {
            "raw": {"tasks": 20000, "seconds": 5.1, "tasks_per_s": 3921.6 / slowdown},
            "raw_write": {"tasks": 20000, "seconds": 10.2, "tasks_per_s": 1960.8 / slowdown},
            "command": {
                **mode,
                "handled_per_s": 225.0 / slowdown,
                "handled_vs_raw": 0.057,
                "handled_vs_raw_write": 0.115,
            },
            "event": {
                **mode,
                "handled": 13000,
                "handled_per_s": 433.3 / slowdown,
                "handled_vs_raw": 0.11,
                "handled_vs_raw_write": 0.221,
            },
        },
        "producer": {
            "command": [
                {"subscribers": n, "orders": 200, "median_ms": 0.4 * n, "p95_ms": 0.6 * n, "published_per_order": n}
                for n in subscribers
            ],
            "event": [
                {
                    "subscribers": n,
                    "orders": 200,
                    "median_ms": 0.5 if flat else 0.5 * n,
                    "p95_ms": 0.8,
                    "published_per_order": 1,
                    "broker_copies_per_order": n,
                }
                for n in subscribers
            ],
            "command_8_vs_1": 8.0,
            "event_8_vs_1": 1.02 if flat else 3.48,
        },
        "latency": {
            "raw": {"samples": 500, "p50_ms": 1.2, "p95_ms": 2.0, "p99_ms": 3.5},
            "command": {"samples": 200, "p50_ms": 80.0, "p95_ms": 120.0, "p99_ms": 150.0, "p50_vs_raw": 66.7},
            "event": {"samples": 200, "p50_ms": 60.0, "p95_ms": 90.0, "p99_ms": 110.0, "p50_vs_raw": 50.0},
        },
        "memory": {
            "messages": 50000,
            "orders": 4000,
            "workers": [
                {"service": s, "start_mb": 80.0 + i, "end_mb": 82.0 + i, "growth_pct": 2.5}
                for i, s in enumerate(SERVICES)
            ],
            "total_start_mb": 581.0,
            "total_end_mb": 595.0,
            "total_growth_pct": 2.4,
            "max_growth_pct": 2.5,
        },
    }


def _store(database: str, floor: str) -> dict[str, Any]:
    return {
        "database": database,
        "events": 100000,
        "orders": 25000,
        "append_sample_orders": 2000,
        "shop": {
            "append_orders_per_s": 300.0,
            "append_events_per_s": 1200.0,
            "replay_all_events_per_s": 90000.0,
            "replay_single_orders_per_s": 800.0,
            "replay_single_events_per_s": 3200.0,
            "rebuild_events_per_s": 20000.0,
        },
        "eventsourcing": {
            "version": "9.5.6",
            "write_orders_per_s": 500.0,
            "write_events_per_s": 2000.0,
            "read_events_per_s": 60000.0,
            "replay_single_events_per_s": 5000.0,
        },
        "floor": {"kind": floor, "scan_events_per_s": 400000.0},
        "ratios": {"append_vs_library_write": 0.6, "replay_vs_library_read": 1.5, "replay_vs_floor": 0.22},
    }


def _scaling() -> dict[str, Any]:
    """One size of the scaling curves (tests/unit/test_bench_scaling.py checks that section)."""
    point = {"events": 10000, "replay_events_per_s": 90000.0, "rebuild_events_per_s": 30000.0}
    filters = {"status": {"p95_ms": 0.9, "plan_indexes": ["summary_by_status"]}}
    return {
        "store": {"points": [point], "replay": {"spread": 0.0, "flat": True}},
        "dashboard": {"filters": {"status": {"status": "paid"}}, "points": [{"summaries": 10000, "filters": filters}]},
    }


@pytest.fixture
def results() -> dict[str, Any]:
    redis, amqp = _broker(1.0, flat=False), _broker(1.7, flat=True)
    return {
        "meta": {
            "started_at": "2026-12-01T13:00:00+01:00",
            "duration_s": 905.0,
            "quick": False,
            "command": "make bench",
            "machine": {"cpus": 2, "memory_gb": 23.4, "platform": "Linux-test", "python": "3.11.7", "kombu": "5.5.4"},
            "brokers": {"amqp": "amqp://guest:**@127.0.0.1:5672/shop_bench", "redis": "redis://127.0.0.1:6379/14"},
            "workers": {"processes": 7, "pool_slots": 10},
        },
        **{section: {"redis": redis[section], "amqp": amqp[section]} for section in redis},
        "eventstore": {"sqlite": _store("sqlite", "sqlite3 scan"), "postgres": _store("postgres", "psycopg scan")},
        "workers": {"amqp": workers_section()},
        "scaling": {db: _scaling() for db in ("sqlite", "postgres")},
        "targets": [
            {
                "id": "event-throughput",
                "label": "event-mode handled msgs/s ≥ 0.5 × raw",
                "broker": "amqp",
                "ratio": 0.12,
                "goal": 0.5,
                "direction": ">=",
                "met": False,
                "note": "bounded by two CPUs",
            },
            {
                "id": "replay-vs-library",
                "label": "replay ≥ 1.0 × library read",
                "database": "postgres",
                "ratio": 1.4,
                "goal": 1.0,
                "direction": ">=",
                "met": True,
                "note": "",
            },
            {
                "id": "worker-rss",
                "label": "worker RSS growth < 10%",
                "broker": "redis",
                "ratio": 0.041,
                "goal": 0.10,
                "direction": "<",
                "met": True,
                "note": "",
                "unit": "%",
            },
        ],
        "findings": ["Most of the producer's time is JSON encoding.", "A second finding."],
    }


def _row(markdown: str, first_cell: str) -> list[str]:
    """The cells of the first table row whose first cell is ``first_cell``."""
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r}")


def test_full_run_header_and_targets(results: dict[str, Any]) -> None:
    text = render_markdown(results)
    assert text.splitlines()[0].startswith("<!-- generated by `python -m bench.report` from bench/results/latest.json")
    assert "Measured 2026-12-01 12:00 UTC, took 15 min 5 s: a full run of `make bench`." in text
    assert "Python 3.11.7, kombu 5.5.4" in text
    assert "7 processes, 10 pool slots" in text
    assert "`python -m bench --quick --json /tmp/q.json`" in text
    assert text.index("Redis `redis://") < text.index("RabbitMQ `amqp://")

    assert _row(text, "event-mode handled msgs/s ≥ 0.5 × raw") == ["event-mode handled msgs/s ≥ 0.5 × raw",
        "RabbitMQ", "0.12×", "≥ 0.50×", "❌ no"]  # fmt: skip
    assert _row(text, "replay ≥ 1.0 × library read")[1:] == ["PostgreSQL", "1.40×", "≥ 1.00×", "✅ yes"]
    assert _row(text, "worker RSS growth < 10%")[1:] == ["Redis", "4.1%", "< 10.0%", "✅ yes"]
    assert "- *event-throughput, RabbitMQ:* bounded by two CPUs" in text
    assert text.index("Most of the producer's time") < text.index("A second finding.") < text.index("## Throughput")
    assert NOT_MEASURED_RE.search(text) is None


def test_full_run_section_tables(results: dict[str, Any]) -> None:
    text = render_markdown(results)
    redis = text[text.index("## Throughput") : text.index("### RabbitMQ")]
    assert _row(redis, "raw no-op tasks") == [
        "raw no-op tasks",
        "20,000 tasks in 5.1 s",
        "—",
        "3,922",
        "—",
        "1.00×",
        "—",
    ]
    assert _row(redis, "raw no-op + one INSERT")[3:] == ["1,961", "—", "0.50×", "—"]
    cpu = {"workers": 2.5, "producer": 0.4, "postgres": 1.25, "broker": 0.3, "total": 4.45}
    results["throughput"]["redis"]["event"]["cpu_ms_per_handled"] = cpu
    text = render_markdown(results)
    redis = text[text.index("## Throughput") : text.index("### RabbitMQ")]
    assert _row(redis, "event mode (per handled message)")[1:] == [
        "2.50",
        "0.40",
        "1.25",
        "0.30",
        "4.45",
    ]
    assert _row(redis, "command mode")[2:] == ["25.0", "225", "9.0", "0.057×", "0.12×"]
    producer = text[text.index("## Producer cost") :]
    assert _row(producer, "8")[1:] == ["3.2", "4.8", "8.0", "4.0", "0.80", "1.0", "8.0"]
    assert "Median at 8 subscribers vs 1: command mode 8.00×; event mode 3.48×." in producer
    assert "event mode 1.02×" in producer
    assert "README.md#delivery-guarantees-broker-by-broker" in producer
    assert _row(text, "event mode")[0] == "event mode"
    assert _row(text, "raw no-op round trip")[1:] == ["500", "1.2", "2.0", "3.5", "1.00×"]
    assert _row(text, "floor: psycopg scan")[1:] == ["—", "400,000"]
    assert _row(text, "eventsourcing 9.5.6: notification-log read")[1:] == ["—", "60,000"]
    assert "Ratios: append vs library write 0.60×; replay vs library read 1.50×; replay vs floor 0.22×." in text
    assert _row(text, "**total**")[1:] == ["581", "595", "+2.4%"]
    assert text.count("| projector ") == 2


def test_partial_run_says_what_was_not_measured(results: dict[str, Any]) -> None:
    partial = copy.deepcopy(results)
    del partial["throughput"]["amqp"], partial["throughput"]["redis"]["command"]
    del partial["latency"], partial["memory"], partial["eventstore"]["postgres"], partial["targets"]
    partial["producer"] = {"amqp": {"event": partial["producer"]["amqp"]["event"]}}
    partial["meta"]["quick"] = True
    text = render_markdown(partial)
    assert "a **quick** (reduced) run" in text
    assert "Not measured in this run." in text[text.index("## Targets") : text.index("## Throughput")]
    throughput = text[text.index("## Throughput") : text.index("## Producer")]
    assert "*command mode: not measured in this run.*" in throughput
    assert "*RabbitMQ: not measured in this run.*" in throughput
    assert "### RabbitMQ" not in throughput
    assert _row(throughput, "event mode")[-2:] == ["0.11×", "0.22×"]
    producer = text[text.index("## Producer") : text.index("## End-to-end")]
    assert "*Redis: not measured in this run.*" in producer
    assert _row(producer, "1")[1:4] == ["—", "—", "—"]
    latency = text[text.index("## End-to-end") :]
    assert "*Redis: not measured in this run.*" in latency and "*RabbitMQ: not measured in this run.*" in latency
    assert "*PostgreSQL: not measured in this run.*" in text
    assert "*SQLite: not measured" not in text


def test_empty_results_still_render() -> None:
    text = render_markdown({})
    assert "on an unknown date" in text
    assert text.count("not measured in this run") >= 10
    assert "\n\n\n" not in text and text.endswith("\n") and not text.endswith("\n\n")


def test_same_input_same_markdown(results: dict[str, Any]) -> None:
    assert render_markdown(results) == render_markdown(copy.deepcopy(results))


def test_plot_links_only_for_given_plots(results: dict[str, Any]) -> None:
    text = render_markdown(results, plots={"throughput": "bench/results/throughput.png"})
    assert "![Throughput per broker](bench/results/throughput.png)" in text
    assert "producer_cost.png" not in text


@pytest.mark.parametrize(("value", "shown"), [(0.4213, "0.42×"), (0.041, "0.041×"), (12.34, "12.3×"), (None, "—")])
def test_ratio_formatting(value: float | None, shown: str) -> None:
    assert ratio(value) == shown


def test_write_report_writes_markdown_and_png_plots(results: dict[str, Any], tmp_path: Path) -> None:
    markdown = tmp_path / "BENCHMARKS.md"
    written = write_report(results, markdown=markdown, plots_dir=tmp_path / "bench" / "results")
    assert written[0] == markdown
    assert sorted(p.name for p in written[1:]) == sorted(
        f"{name}.png" for name in [*plots.FIGURES, "workers", "scaling"]
    )
    for path in written[1:]:
        assert path.read_bytes().startswith(PNG)
    assert "![Producer cost vs subscribers](bench/results/producer_cost.png)" in markdown.read_text()


def test_partial_plots_skip_missing_sections(results: dict[str, Any], tmp_path: Path) -> None:
    partial = {
        "producer": {"amqp": {"event": results["producer"]["amqp"]["event"]}},
        "latency": {"redis": {}, "amqp": {"raw": results["latency"]["amqp"]["raw"]}},
        "eventstore": {"sqlite": {"shop": {}}},
        "memory": {"redis": {"workers": []}},
    }
    assert plots.latency({"latency": {"redis": {}}}) is None, "a broker with nothing measured draws no panel"
    written = plots.write_plots(partial, tmp_path)
    assert set(written) == {"producer_cost", "latency"}
    assert all(p.read_bytes().startswith(PNG) for p in written.values())


def test_cli_reads_json_and_writes(results: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "latest.json"
    source.write_text(json.dumps(results), encoding="utf-8")
    markdown = tmp_path / "out" / "BENCHMARKS.md"
    assert main([str(source), "--markdown", str(markdown), "--plots", str(tmp_path / "png")]) == 0
    assert f"from {source.resolve()} — do not edit by hand" in markdown.read_text().splitlines()[0]
    assert "](../png/throughput.png)" in markdown.read_text()
    assert str(markdown) in capsys.readouterr().out


def test_a_report_put_together_from_two_runs_names_both(results: dict[str, Any]) -> None:
    one_run = render_markdown(results)
    assert "Put together from" not in one_run
    parts = [
        {"command": "make bench", "started_at": "2026-12-06T00:45", "kept": "Redis", "why_stopped": "a bench bug"},
        {"command": "python -m bench --brokers amqp", "started_at": "2026-12-06T01:15", "kept": "RabbitMQ"},
    ]
    text = render_markdown({**results, "meta": {**results["meta"], "runs": parts}})
    assert "Put together from 2 runs" in text
    assert "`make bench`, started 2026-12-06T00:45: Redis; a bench bug." in text
    assert "`python -m bench --brokers amqp`, started 2026-12-06T01:15: RabbitMQ." in text
