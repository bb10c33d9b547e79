"""Issue 17's targets, each judged on ratios measured in the same run.

A row is made only for what the run measured: ``--only latency`` judges the latency rows and
nothing else, so a partial run never reports a target it did not measure as missed.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

COMPARE: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, "<": operator.lt}
MODE_THROUGHPUT = {"event": 0.5, "command": 0.4}
LATENCY_P50_VS_RAW = 10.0
LATENCY_TAIL = 3.0


def _target(tid: str, label: str, ratio: float, goal: float, direction: str, **where: str) -> dict[str, Any]:
    return {
        "id": tid,
        "label": label,
        **where,
        "ratio": ratio,
        "goal": goal,
        "direction": direction,
        "met": COMPARE[direction](ratio, goal),
    }


def _throughput(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for broker, by_mode in results.get("throughput", {}).items():
        for mode, goal in MODE_THROUGHPUT.items():
            if mode in by_mode:
                label = f"{mode}-mode handled msgs/s ≥ {goal} × raw no-op tasks/s"
                ratio = by_mode[mode]["handled_vs_raw"]
                out.append(_target(f"{mode}-throughput", label, ratio, goal, ">=", broker=broker))
    return out


def _latency(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for broker, by_mode in results.get("latency", {}).items():
        for mode in ("command", "event"):
            if mode not in by_mode:
                continue
            sample = by_mode[mode]
            label = f"{mode}-mode p50 latency ≤ {LATENCY_P50_VS_RAW:g} × raw no-op round trip"
            out.append(_target(f"{mode}-latency", label, sample["p50_vs_raw"], LATENCY_P50_VS_RAW, "<=", broker=broker))
            tail = round(sample["p99_ms"] / sample["p50_ms"], 3)
            label = f"{mode}-mode p99 latency ≤ {LATENCY_TAIL:g} × its p50"
            out.append(_target(f"{mode}-latency-tail", label, tail, LATENCY_TAIL, "<=", broker=broker))
    return out


def _eventstore(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    rows = (
        (
            "store_one_order_per_transaction_vs_library",
            "store-append",
            "store's append, one order per transaction ≥ 1.0 × library save",
            1.0,
        ),
        (
            "append_vs_library_write",
            "placement-vs-library",
            "whole placement (every service) ≥ 0.5 × library write",
            0.5,
        ),
        ("replay_vs_library_read", "replay-vs-library", "replay ≥ 1.0 × eventsourcing notification-log read", 1.0),
    )
    for db, store in results.get("eventstore", {}).items():
        ratios = store.get("ratios", {})
        for key, tid, label, goal in rows:
            if key in ratios:
                out.append(_target(tid, label, ratios[key], goal, ">=", database=db))
    return out


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = [*_throughput(results), *_latency(results), *_eventstore(results)]
    producer = results.get("producer", {}).get("amqp")
    if producer and "event_8_vs_1" in producer:
        label = "event-mode producer time at 8 subscribers ≤ 1.25 × at 1 (RabbitMQ)"
        out.append(_target("producer-flat", label, producer["event_8_vs_1"], 1.25, "<=", broker="amqp"))
    for broker, memory in results.get("memory", {}).items():
        label = f"worker RSS growth < 10% over {memory['messages']:,} messages (largest growth of any worker)"
        growth = round(memory["max_growth_pct"] / 100, 4)
        out.append({**_target("worker-rss", label, growth, 0.10, "<", broker=broker), "unit": "%"})
    return out
