"""BENCHMARKS.md's section on throughput against worker processes, and its plot (the ``workers``
section of the results, bench/scaling_workers.py).

Kept apart from bench/report.py and bench/plots.py, which call it: the report passes its
``table`` in, so this module needs nothing from it and the tables look alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bench.plots import BROKERS, COLOURS, DPI, MODES, SIZE, label, num, ordered, part, times


class Table(Protocol):
    """bench/report.py's ``table``: headers, rows, and how many leading columns are text."""

    def __call__(self, headers: Sequence[str], rows: Sequence[Sequence[str]], text: int = 1) -> str: ...


NAME = "workers"
DASH = "—"
CPU_KINDS = ("workers", "postgres", "broker", "producer", "total")
CPU_HEAD = ["CPU ms/msg: workers", "PostgreSQL", "Broker", "Producer", "Total", "CPUs used", "Machine busy"]

TEXT = """\
What more worker processes buy on this machine, and so what more machines would buy. **Inventory**:
the Procfile's inventory worker as 1, 2 and 4 processes (the same command line, competing for the
same queue), draining `inventory.reserve` commands published ahead as command mode's orders
service sends them, so only inventory's own work is in the window (from every process ready to
the last reservation). **Whole flow**: every Procfile worker as 1 and then 2 processes per
service, one outbox relay, orders placed by the bench as fast as it can in each mode, timed as in
*Throughput* above. Orders are spread over the bench's own products so that processes do not
queue on one product row's lock. *CPU ms/msg* is what each kind of process spent per handled
message; *CPUs used* is all of it divided by the window (out of the machine's CPUs), and
*machine busy* is how busy the machine's CPUs were in all, whoever used them."""


def _f(value: Any, digits: int = 1) -> str:
    v = num(value)
    return DASH if v is None else f"{v:,.{digits}f}"


def _cpu_cells(point: Mapping[str, Any]) -> list[str]:
    spent = part(point, "cpu_ms_per_handled")
    busy = num(point.get("machine_busy_pct"))
    shown = DASH if busy is None else f"{busy:.0f}%"
    return [*(_f(spent.get(k), 2) for k in CPU_KINDS), _f(point.get("cpus_used"), 2), shown]


def _speedup(point: Mapping[str, Any]) -> str:
    return DASH if (v := num(point.get("vs_fewest"))) is None else times(v)


def _points(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    return [p for p in data.get(key) or [] if isinstance(p, Mapping)]


def _inventory_rows(data: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for p in _points(data, "inventory"):
        over = f"{_f(p.get('handled'), 0)} msgs in {_f(p.get('seconds'))} s"
        over += f" ({_f(p.get('handled_before_ready'), 0)} before all were ready)"
        head = [_f(p.get("processes"), 0), _f(p.get("pool_slots"), 0), over, _f(p.get("handled_per_s"))]
        rows.append([*head, _speedup(p), *_cpu_cells(p)])
    return rows


def _flow_rows(data: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for p in _points(data, "flow"):
        for mode in MODES:
            if m := part(p, mode):
                head = [_f(p.get("processes_per_service"), 0), f"{mode} mode", _f(p.get("processes"), 0)]
                head += [_f(p.get("pool_slots"), 0), f"{_f(m.get('orders'), 0)} orders in {_f(m.get('seconds'))} s"]
                head += [_f(m.get("orders_per_s")), _f(m.get("handled_per_s")), _speedup(m)]
                rows.append([*head, *_cpu_cells(m)])
    return rows


def capacity(point: Mapping[str, Any], cpus: float | None) -> dict[str, float] | None:
    """The CPU-bound arithmetic for one measured point: messages per second one CPU handles at
    this point's cost, the ceiling of ``cpus`` CPUs, how close the measured rate came to it, and
    how the cost splits between what scales out (the workers, the producer) and what is shared
    (PostgreSQL, the broker)."""
    spent = part(point, "cpu_ms_per_handled")
    total, workers = num(spent.get("total")), num(spent.get("workers"))
    measured = num(point.get("handled_per_s"))
    if not total or workers is None or measured is None:
        return None
    shared = (num(spent.get("postgres")) or 0.0) + (num(spent.get("broker")) or 0.0)
    out = {"total_ms": total, "workers_ms": workers, "shared_ms": shared, "per_cpu": 1000 / total}
    out |= {"per_worker_cpu": 1000 / workers if workers else 0.0, "per_shared_cpu": 1000 / shared if shared else 0.0}
    if cpus:
        out |= {"cpus": cpus, "ceiling": cpus * 1000 / total, "of_ceiling": measured / (cpus * 1000 / total)}
    return out


def _arithmetic(what: str, point: Mapping[str, Any], cpus: float | None, per_order: float | None = None) -> str:
    c = capacity(point, cpus)
    if c is None:
        return ""
    text = (
        f"- **{what}**: a message costs {c['total_ms']:.1f} CPU ms in all ({c['workers_ms']:.1f} in the workers, "
        f"{c['shared_ms']:.1f} in PostgreSQL and the broker), so each more CPU buys about "
        f"**{c['per_cpu']:,.0f} msgs/s**"
    )
    text += f" ({c['per_cpu'] / per_order:,.1f} orders/s)" if per_order else ""
    if "ceiling" in c:
        text += (
            f"; this machine's {c['cpus']:.0f} CPUs top out near {c['ceiling']:,.0f} msgs/s, and the run reached "
            f"{_f(point.get('handled_per_s'))} ({c['of_ceiling']:.0%} of it)"
        )
    return text + (
        f". On more machines the workers' share scales out ({c['per_worker_cpu']:,.0f} msgs/s per worker CPU), "
        f"while PostgreSQL and the broker need one CPU per {c['per_shared_cpu']:,.0f} msgs/s of the total."
    )


def markdown(results: Mapping[str, Any], plots: Mapping[str, str], table: Table) -> list[str]:
    out = ["", "## Throughput against worker processes", "", TEXT]
    measured = ordered(results.get(NAME), BROKERS)
    if not measured:
        return [*out, "", "*Not measured in this run.*"]
    cpus = num(part(results.get("meta") or {}, "machine").get("cpus"))
    for key, data in measured:
        cpus = num(data.get("cpus")) or cpus
        inventory, flow = _points(data, "inventory"), _points(data, "flow")
        backlog = _f(inventory[0].get("backlog"), 0) if inventory else DASH
        out += ["", f"### {label(key)}", "", f"Inventory, {backlog} reservations published ahead of each point:", ""]
        head = ["Inventory processes", "Pool slots", "Measured over", "Handled msgs/s", "vs 1 process", *CPU_HEAD]
        out += [table(head, _inventory_rows(data)), "", "Whole flow:", ""]
        head = ["Processes per service", "Mode", "Processes", "Pool slots", "Measured over", "Orders/s"]
        head += ["Handled msgs/s", "vs 1 per service", *CPU_HEAD]
        out += [table(head, _flow_rows(data), text=2), ""]
        out += ["What more CPUs would buy, at the most processes measured:", ""]
        lines = [_arithmetic("Inventory reservations", inventory[-1], cpus)] if inventory else []
        for mode in MODES:
            if flow and (m := part(flow[-1], mode)):
                handled, orders = num(m.get("handled")), num(m.get("orders"))
                per_order = handled / orders if handled and orders else None
                lines.append(_arithmetic(f"Whole flow, {mode} mode", m, cpus, per_order))
        out += [line for line in lines if line] or ["*Not measured in this run.*"]
    return [*out, "", *([f"![Throughput against worker processes]({plots[NAME]})"] if NAME in plots else [])]


def _curve(
    ax: Axes, xs: list[float], points: Sequence[Mapping[str, Any]], colour: str, name: str, cpus: float | None
) -> None:
    """One rate line, each point labelled with its CPU ms per message, and the CPU-bound ceiling
    at each point's cost as a dashed line of the same colour."""
    rates = [num(p.get("handled_per_s")) or 0.0 for p in points]
    ax.plot(xs, rates, marker="o", color=colour, label=f"{name}: handled msgs/s")
    for x, y, p in zip(xs, rates, points, strict=True):
        total = num(part(p, "cpu_ms_per_handled").get("total"))
        ax.annotate(f"{y:,.0f}\n{total:.1f} CPU ms/msg" if total else f"{y:,.0f}", (x, y), textcoords="offset points",
                    xytext=(0, 6), ha="center", fontsize=7)  # fmt: skip
    found = [c.get("ceiling") for p in points if (c := capacity(p, cpus))]
    ceilings = [c for c in found if c is not None]
    if ceilings and len(ceilings) == len(points):
        ax.plot(xs, ceilings, linestyle="--", color=colour, alpha=0.6, label=f"{name}: {cpus:.0f} CPUs' ceiling")


def figure(results: Mapping[str, Any]) -> Figure | None:
    """Handled msgs/s against processes, with the ceiling the machine's CPUs allow at the measured
    cost per message: a flat line under a flat ceiling is a CPU-bound machine, not a slow app."""
    measured = [(k, d) for k, d in ordered(results.get(NAME), BROKERS) if _points(d, "inventory") or _points(d, "flow")]
    if not measured:
        return None
    key, data = measured[0]
    cpus = num(data.get("cpus")) or num(part(results.get("meta") or {}, "machine").get("cpus"))
    fig = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    fig.suptitle(f"Throughput against worker processes ({label(key)})")
    inventory = _points(data, "inventory")
    _curve(left, [num(p.get("processes")) or 0.0 for p in inventory], inventory, COLOURS["command"], "inventory", cpus)
    left.set_xscale("log", base=2)
    left.set_xticks([1, 2, 4], ["1", "2", "4"])
    left.set_xlim(0.8, 5)
    left.set_xlabel("inventory worker processes")
    left.set_title("Inventory reservations")
    flow = _points(data, "flow")
    for mode in MODES:
        points = [part(p, mode) for p in flow if part(p, mode)]
        xs = [num(p.get("processes_per_service")) or 0.0 for p in flow if part(p, mode)]
        _curve(right, xs, points, COLOURS[mode], f"{mode} mode", cpus)
    right.set_xticks([1, 2], ["1", "2"])
    right.set_xlim(0.7, 2.3)
    right.set_xlabel("processes per service")
    right.set_title("Whole flow")
    for ax in (left, right):
        ax.margins(y=0.3)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("messages handled / s")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    return fig


def write_plot(results: Mapping[str, Any], plots_dir: Path) -> dict[str, Path]:
    """The figure, when the run measured the section (saved as bench/plots.py saves its own)."""
    fig = figure(results)
    if fig is None:
        return {}
    plots_dir.mkdir(parents=True, exist_ok=True)
    path = plots_dir / f"{NAME}.png"
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return {NAME: path}
