"""The benchmark figures, drawn from the results JSON that ``make bench`` writes.

Each figure function returns ``None`` when its section was not measured (a partial run, ``--only``),
so the report can leave the picture out instead of drawing empty axes. Figures are built on
``Figure`` with the Agg canvas, never through pyplot, so nothing depends on a display or on global
state, and PNGs are saved without the software-version chunk so that re-rendering the same JSON with
another matplotlib does not change the file for nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

BROKERS = ("redis", "amqp")
DATABASES = ("sqlite", "postgres")
MODES = ("command", "event")
# Display names of the JSON's keys: brokers, databases and (in meta) the software measured with.
LABELS = {"redis": "Redis", "amqp": "RabbitMQ", "rabbitmq": "RabbitMQ", "sqlite": "SQLite", "postgres": "PostgreSQL"}
LABELS |= {"python": "Python", "django": "Django", "celery": "Celery"}
COLOURS = {"raw": "#7f7f7f", "raw_write": "#bcbcbc", "command": "#1f77b4", "event": "#ff7f0e"}
SIZE = (10.0, 4.5)
DPI = 110
T = TypeVar("T")


def label(key: str) -> str:
    return LABELS.get(key, key)


def ordered(section: Any, known: Iterable[str]) -> list[tuple[str, dict[str, Any]]]:
    """The measured entries of a section, known keys first and the rest sorted: the same JSON
    always yields the same order, whatever order the run wrote them in."""
    if not isinstance(section, Mapping):
        return []
    first = [k for k in known if k in section]
    keys = first + sorted(k for k in section if k not in first)
    return [(k, section[k]) for k in keys if isinstance(section[k], Mapping)]


def times(v: float) -> str:
    """A ratio as text, with enough digits that a small one does not round to 0.00×."""
    return f"{v:,.1f}×" if abs(v) >= 10 else f"{v:.2f}×" if abs(v) >= 0.1 else f"{v:.3f}×"


def part(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A nested object of the JSON, or an empty one if the run left it out."""
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def num(value: Any) -> float | None:
    """A number from the JSON, or None for anything else (missing, null, a string)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _panels(n: int, title: str) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, n, i + 1) for i in range(n)]
    fig.suptitle(title)
    return fig, axes


def _measured(
    section: Any, known: Iterable[str], extract: Callable[[dict[str, Any]], list[T]]
) -> list[tuple[str, list[T]]]:
    """Each broker's or database's plottable points, dropping those with none: an empty panel (or
    a log axis with nothing on it, which matplotlib refuses) would say less than leaving it out."""
    return [(key, points) for key, data in ordered(section, known) if (points := extract(data))]


def _bar_labels(ax: Axes, bars: Any, texts: list[str]) -> None:
    ax.bar_label(bars, labels=texts, padding=2, fontsize=8)


def _throughput_bars(data: dict[str, Any]) -> list[tuple[str, float, float | None]]:
    bars = []
    raw = num(part(data, "raw").get("tasks_per_s"))
    for run in ("raw", "raw_write", *MODES):
        entry = part(data, run)
        rate = num(entry.get("handled_per_s" if run in MODES else "tasks_per_s"))
        if rate is not None:
            versus = num(entry.get("handled_vs_raw")) if run in MODES else (rate / raw if raw else None)
            bars.append((run, rate, versus))
    return bars


def throughput(results: Mapping[str, Any]) -> Figure | None:
    """Raw no-op tasks/s beside each mode's handled messages/s: the raw bar is the ceiling the
    broker and Celery allow on this machine, and the ratio on each bar is what carries over."""
    brokers = _measured(results.get("throughput"), BROKERS, _throughput_bars)
    if not brokers:
        return None
    fig, (ax,) = _panels(1, "Throughput: messages handled per second, per broker")
    series = ("raw", "raw_write", *MODES)
    width = 0.8 / len(series)
    for i, name in enumerate(series):
        found = [(b, rate, ratio) for b, (_, bars) in enumerate(brokers) for run, rate, ratio in bars if run == name]
        xs = [b + (i - (len(series) - 1) / 2) * width for b, _, _ in found]
        texts = [f"{rate:,.0f}" + (f"\n{times(ratio)}" if ratio is not None else "") for _, rate, ratio in found]
        legend = {"raw": "raw no-op tasks", "raw_write": "raw no-op + one INSERT"}.get(name, f"{name} mode (handled)")
        bars = ax.bar(xs, [rate for _, rate, _ in found], width, label=legend, color=COLOURS[name])
        _bar_labels(ax, bars, texts)
    ax.set_xticks(range(len(brokers)), [label(k) for k, _ in brokers])
    ax.set_ylabel("messages handled / s")
    ax.margins(y=0.2)
    ax.legend(loc="upper right", fontsize=8)
    return fig


def _producer_lines(data: dict[str, Any]) -> list[tuple[str, list[tuple[float, float]], float | None]]:
    lines = []
    for mode in MODES:
        rows = [r for r in data.get(mode) or [] if isinstance(r, Mapping)]
        points = sorted((x, y) for r in rows if (x := num(r.get("subscribers"))) and (y := num(r.get("median_ms"))))
        if points:
            lines.append((mode, points, num(data.get(f"{mode}_8_vs_1"))))
    return lines


def producer_cost(results: Mapping[str, Any]) -> Figure | None:
    """Producer time against the number of subscribers, both modes on the same axes per broker:
    the slope of each line is the cost of one more consumer for the code that publishes."""
    brokers = _measured(results.get("producer"), BROKERS, _producer_lines)
    if not brokers:
        return None
    fig, axes = _panels(len(brokers), "Producer cost per order vs number of subscribers")
    for ax, (key, lines) in zip(axes, brokers, strict=True):
        for mode, points, ratio in lines:
            legend = f"{mode} mode" + (f" (8 vs 1: {times(ratio)})" if ratio is not None else "")
            ax.plot(*zip(*points, strict=True), marker="o", color=COLOURS[mode], label=legend)
        ax.set_xscale("log", base=2)
        ax.set_xticks([1, 2, 4, 8], ["1", "2", "4", "8"])
        ax.set_ylim(bottom=0)
        ax.set_title(label(key))
        ax.set_xlabel("subscribers (log₂ scale)")
        ax.set_ylabel("median producer time per order (ms)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


QUANTILES = {"p50": 1.0, "p95": 0.65, "p99": 0.4}  # quantile -> bar opacity


def _latency_runs(data: dict[str, Any]) -> list[tuple[str, dict[str, float]]]:
    runs = []
    for run in ("raw", *MODES):
        entry = part(data, run)
        values = {q: v for q in QUANTILES if (v := num(entry.get(f"{q}_ms")))}
        if values:
            runs.append((run, values))
    return runs


def latency(results: Mapping[str, Any]) -> Figure | None:
    """p50/p95/p99 on a log axis, since the raw round trip and a whole order differ by orders of
    magnitude and a linear axis would flatten the raw bars to nothing."""
    brokers = _measured(results.get("latency"), BROKERS, _latency_runs)
    if not brokers:
        return None
    fig, axes = _panels(len(brokers), "End-to-end latency: order placed → every consumer done")
    width = 0.8 / len(QUANTILES)
    for ax, (key, runs) in zip(axes, brokers, strict=True):
        for i, (q, alpha) in enumerate(QUANTILES.items()):
            found = [(g, run, values[q]) for g, (run, values) in enumerate(runs) if q in values]
            xs = [g + (i - 1) * width for g, _, _ in found]
            colours = [COLOURS[run] for _, run, _ in found]
            ys = [v for _, _, v in found]
            bars = ax.bar(xs, ys, width, color=colours, alpha=alpha, label=q, edgecolor="black", linewidth=0.4)
            _bar_labels(ax, bars, [f"{y:,.1f}" if y < 100 else f"{y:,.0f}" for y in ys])
        ax.set_xticks(range(len(runs)), ["raw no-op" if run == "raw" else f"{run} mode" for run, _ in runs])
        ax.set_yscale("log")
        ax.set_title(label(key))
        ax.set_ylabel("latency (ms, log scale)")
        ax.legend(fontsize=8, title="quantile (darker = p50)", title_fontsize=8)
    return fig


STORE_BARS = (
    ("this app: append", "shop", "append_events_per_s", COLOURS["event"]),
    ("eventsourcing: write", "eventsourcing", "write_events_per_s", COLOURS["command"]),
    ("this app: replay all", "shop", "replay_all_events_per_s", COLOURS["event"]),
    ("eventsourcing: log read", "eventsourcing", "read_events_per_s", COLOURS["command"]),
    ("floor: {kind}", "floor", "scan_events_per_s", COLOURS["raw"]),
)


def _store_bars(data: dict[str, Any]) -> list[tuple[str, float, str]]:
    bars = []
    for name, section, field, colour in STORE_BARS:
        group = part(data, section)
        if value := num(group.get(field)):
            bars.append((name.format(kind=group.get("kind", "raw scan")), value, colour))
    return bars


def eventstore(results: Mapping[str, Any]) -> Figure | None:
    """Events/s of each operation beside the library's and the raw scan's, on a log axis: the
    rates span orders of magnitude, and the ratios between neighbouring bars are the result."""
    databases = _measured(results.get("eventstore"), DATABASES, _store_bars)
    if not databases:
        return None
    fig, axes = _panels(len(databases), "Event store: events per second (log scale)")
    for ax, (key, bars) in zip(axes, databases, strict=True):
        ys = list(range(len(bars)))[::-1]
        drawn = ax.barh(ys, [v for _, v, _ in bars], color=[c for _, _, c in bars])
        _bar_labels(ax, drawn, [f"{v:,.0f}" for _, v, _ in bars])
        ax.set_yticks(ys, [n for n, _, _ in bars], fontsize=8)
        ax.set_xscale("log")
        ax.margins(x=0.25)
        ax.set_xlabel("events / s (log scale)")
        ax.set_title(label(key))
    return fig


def _workers(data: dict[str, Any]) -> list[tuple[str, float, float, float | None]]:
    rows = [w for w in data.get("workers") or [] if isinstance(w, Mapping)]
    return [(str(w.get("service", "?")), num(w.get("start_mb")) or 0.0, num(w.get("end_mb")) or 0.0,
             num(w.get("growth_pct"))) for w in rows]  # fmt: skip


def memory(results: Mapping[str, Any]) -> Figure | None:
    """Start and end RSS per worker process: a leak shows as an end bar clearly above its start."""
    brokers = _measured(results.get("memory"), BROKERS, _workers)
    if not brokers:
        return None
    fig, axes = _panels(len(brokers), "Worker memory (RSS) before and after the message run")
    messages = {key: num(data.get("messages")) for key, data in ordered(results.get("memory"), BROKERS)}
    for ax, (key, workers) in zip(axes, brokers, strict=True):
        positions = range(len(workers))
        ax.bar([n - 0.2 for n in positions], [w[1] for w in workers], 0.4, color="#9ecae1", label="start")
        ends = ax.bar([n + 0.2 for n in positions], [w[2] for w in workers], 0.4, color="#3182bd", label="end")
        _bar_labels(ax, ends, [f"{w[3]:+.1f}%" if w[3] is not None else "" for w in workers])
        ax.set_xticks(positions, [w[0] for w in workers], rotation=30, fontsize=8)
        ax.set_ylabel("RSS (MB)")
        ax.margins(y=0.15)
        count = messages.get(key)
        ax.set_title(label(key) + (f" ({count:,.0f} messages)" if count is not None else ""))
        ax.legend(fontsize=8)
    return fig


FIGURES: dict[str, Callable[[Mapping[str, Any]], Figure | None]] = {
    "throughput": throughput,
    "producer_cost": producer_cost,
    "latency": latency,
    "eventstore": eventstore,
    "memory": memory,
}


def write_plots(results: Mapping[str, Any], plots_dir: Path) -> dict[str, Path]:
    """Only the figures with data are written, so a partial run never replaces a real plot with
    an empty one; the returned names tell the report which pictures it may embed."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, draw in FIGURES.items():
        fig = draw(results)
        if fig is None:
            continue
        path = plots_dir / f"{name}.png"
        fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
        written[name] = path
    return written
