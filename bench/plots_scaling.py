"""The scaling figure: replay and rebuild rates, and each dashboard filter's p95, against size.

Kept out of bench/plots.py so that each module stays small; bench/report.py's ``write_report``
draws it after the others, and like them it is left out when the run measured nothing of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from bench.plots import COLOURS, DATABASES, DPI, _panels, label, num, ordered, part

#: Line style per database, so both engines share a panel.
STYLES = {"sqlite": "--", "postgres": "-"}


def _points(data: Mapping[str, Any], section: str, size_key: str, value: Any) -> list[tuple[float, float]]:
    rows = [p for p in part(data, section).get("points") or [] if isinstance(p, Mapping)]
    return [(x, y) for p in rows if (x := num(p.get(size_key))) and (y := value(p)) is not None and y > 0]


def scaling(results: Mapping[str, Any]) -> Figure | None:
    """Rates against events (left) and p95 against summaries (right), both on log axes: a flat
    rate line, and a flat latency line, are what "scales" looks like."""
    databases = ordered(results.get("scaling"), DATABASES)
    if not any(part(data, "store").get("points") or part(data, "dashboard").get("points") for _, data in databases):
        return None
    fig, (rates, queries) = _panels(2, "How cost grows with the data")
    for key, data in databases:
        style = STYLES.get(key, ":")
        for name, colour in (("replay", COLOURS["event"]), ("rebuild", COLOURS["command"])):
            points = _points(data, "store", "events", lambda p, n=name: num(p.get(f"{n}_events_per_s")))
            if points:
                rates.plot(*zip(*points, strict=True), style, marker="o", color=colour, label=f"{name}, {label(key)}")
        filters = list(part(data, "dashboard").get("filters") or {})
        for i, name in enumerate(filters):
            points = _points(
                data, "dashboard", "summaries", lambda p, n=name: num(part(part(p, "filters"), n).get("p95_ms"))
            )
            if points:
                queries.plot(
                    *zip(*points, strict=True), style, marker=".", color=f"C{i}", label=f"{name}, {label(key)}"
                )
    rates.set(xscale="log", yscale="log", xlabel="events in the store (log)", ylabel="events / s (log)")
    rates.set_title("Replay and rebuild rate")
    queries.set(xscale="log", yscale="log", xlabel="order summaries (log)", ylabel="p95 ms (log)")
    queries.set_title("Dashboard query p95, per filter")
    for ax in (rates, queries):
        ax.grid(alpha=0.3, which="both")
        if ax.has_data():
            ax.legend(fontsize=6)
    return fig


def write_plot(results: Mapping[str, Any], plots_dir: Path) -> dict[str, Path]:
    """``scaling.png`` if the run measured any of it, as ``bench.plots.write_plots`` does for the others."""
    fig = scaling(results)
    if fig is None:
        return {}
    plots_dir.mkdir(parents=True, exist_ok=True)
    path = plots_dir / "scaling.png"
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return {"scaling": path}
