"""BENCHMARKS.md's section "How cost grows with the data", from the results' ``scaling`` key.

Kept out of bench/report.py (which holds the other sections) so that each module stays small;
report.py calls ``section`` from ``render_markdown``. Like the rest of the report, a pure
function of the results: a database the run skipped says so instead of vanishing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.plots import DATABASES, label, num, ordered, part
from bench.report_tables import DASH, closing, count, rate, table

SCALING = """\
The same work at growing sizes, in one database per engine: the event store seeded with copies
of one real order's events (bulk inserted), then the order summaries filled directly with the
searched values rare. *Replay* folds every order from the whole store; *rebuild* drops the read
model and projects the whole store again. A rate that holds as the store grows means an event
costs the same however many there are; *spread* is how far the slowest size is below the
fastest (flat: within 20%). The dashboard rows are the query GET /api/dashboard runs for each
filter (the first 100 rows, newest first), with the indexes its plan read."""

#: Where a curve that is not flat is explained (the issue: "or the report says why not").
WHY_NOT = "[docs/benchmarks.md](docs/benchmarks.md#how-cost-grows-with-the-data)"


def flat(entry: Any) -> str:
    """The spread of a curve and whether it stays within 20%."""
    d = entry if isinstance(entry, Mapping) else {}
    value = num(d.get("spread"))
    if value is None:
        return DASH
    if d.get("flat") is None:
        return f"{value * 100:.0f}% spread"
    verdict = "flat (within 20%)" if d["flat"] else f"not flat (more than 20%; why: {WHY_NOT})"
    return f"{value * 100:.0f}% spread, {verdict}"


def store_table(data: Mapping[str, Any]) -> list[str]:
    store = part(data, "store")
    points = [p for p in store.get("points") or [] if isinstance(p, Mapping)]
    rows = [
        [count(p.get("events")), rate(p.get("replay_events_per_s")), rate(p.get("rebuild_events_per_s")),
         rate(p.get("rebuild_s")), rate(p.get("seed_events_per_s"))]
        for p in points
    ]  # fmt: skip
    head = ["Events", "Replay events/s", "Rebuild events/s", "Rebuild s", "Seeded events/s"]
    lines = ["", table(head, rows)]
    if rows:
        lines += ["", f"Replay: {flat(store.get('replay'))}. Rebuild: {flat(store.get('rebuild'))}."]
    return lines


def dashboard_table(data: Mapping[str, Any]) -> list[str]:
    dashboard = part(data, "dashboard")
    points = [p for p in dashboard.get("points") or [] if isinstance(p, Mapping)]
    if not points:
        return ["", table([], [])]
    names = list(part(points[0], "filters"))
    head = ["Filter", *(f"p95 ms at {count(p.get('summaries'))}" for p in points), "Plan at the largest"]
    rows = []
    for name in names:
        cells = [rate(part(part(p, "filters"), name).get("p95_ms")) for p in points]
        plan = part(part(points[-1], "filters"), name).get("plan_indexes") or []
        rows.append([name, *cells, ", ".join(str(i) for i in plan) or DASH])
    return ["", table(head, rows), ""]


def section(results: Mapping[str, Any], plots: Mapping[str, str]) -> list[str]:
    scaling = results.get("scaling")
    out = ["", "## How cost grows with the data", "", SCALING]
    for key, data in ordered(scaling, DATABASES):
        out += ["", f"### {label(key)}", "", "Replay and rebuild, as the event store grows:"]
        out += store_table(data)
        out += ["", "Dashboard queries, as the order summaries grow:", *dashboard_table(data)]
    return [*out, *closing(DATABASES, scaling, plots, "scaling", "Replay, rebuild and dashboard cost vs data size")]
