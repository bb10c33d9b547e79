"""The issue's targets, each judged on ratios measured in the same run."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

COMPARE: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, "<": operator.lt}


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


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for broker, by_mode in results.get("throughput", {}).items():
        if "event" in by_mode:
            label = "event-mode handled msgs/s ≥ 0.5 × raw no-op tasks/s"
            out.append(_target("event-throughput", label, by_mode["event"]["handled_vs_raw"], 0.5, ">=", broker=broker))
    for db, store in results.get("eventstore", {}).items():
        ratios = store.get("ratios", {})
        if "replay_vs_library_read" in ratios:
            label = "replay ≥ 1.0 × eventsourcing notification-log read"
            out.append(_target("replay-vs-library", label, ratios["replay_vs_library_read"], 1.0, ">=", database=db))
        if "append_vs_library_write" in ratios:
            label = "append ≥ 2 × eventsourcing write"
            out.append(_target("append-vs-library", label, ratios["append_vs_library_write"], 2.0, ">=", database=db))
    producer = results.get("producer", {}).get("amqp")
    if producer and "event_8_vs_1" in producer:
        label = "event-mode producer time at 8 subscribers ≤ 1.25 × at 1 (RabbitMQ)"
        out.append(_target("producer-flat", label, producer["event_8_vs_1"], 1.25, "<=", broker="amqp"))
    for broker, memory in results.get("memory", {}).items():
        label = f"worker RSS growth < 10% over {memory['messages']:,} messages (largest growth of any worker)"
        growth = round(memory["max_growth_pct"] / 100, 4)
        out.append({**_target("worker-rss", label, growth, 0.10, "<", broker=broker), "unit": "%"})
    return out
