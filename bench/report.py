"""BENCHMARKS.md and its plots, generated from the results JSON that ``make bench`` writes.

    python -m bench.report [RESULTS_JSON] [--markdown BENCHMARKS.md] [--plots bench/results]

``render_markdown`` is a pure function of the results (every date and version comes from ``meta``),
so regenerating from the same JSON gives the same file and a diff of BENCHMARKS.md is a diff of
measurements. Sections, brokers and databases a partial run skipped say so instead of vanishing.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from bench import plots_scaling, report_scaling, report_workers
from bench.plots import BROKERS, DATABASES, MODES, label, num, ordered, part, times, write_plots
from bench.report_tables import DASH, NOT_MEASURED, cells, closing, count, pct, rate, ratio, table

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "bench/results/latest.json"
RUN_NAMES = {"raw": "raw no-op tasks", "raw_write": "raw no-op + one INSERT"}
VERSIONS = ("python", "django", "celery", "kombu", "eventsourcing", "postgres", "rabbitmq", "redis")

READING = """\
**How to read the numbers.** Every number is a median or a rate from one run, and each is
reported as a ratio against a baseline measured in the same run on the same broker or database
(a no-op Celery task, the eventsourcing library, a raw scan of the same rows). Absolute numbers
belong to this machine; the ratios are what carries over to yours."""

THROUGHPUT = """\
A no-op Celery task on the same broker and workers is the ceiling: the *raw* row. The *raw + one
INSERT* row is the same task committing one row (an inbox entry, on a kept-open connection): the
least a consumer that remembers anything must do. Each mode's row is whole orders through the
flow, placed by one producer while the workers run; *handled* counts every message any consumer
handled, so *handled / raw* says how close the app's real work gets to the bare transport, and
*handled / raw + INSERT* how close it gets to the database floor. With every CPU of the machine
busy, the second table says who pays for one message: CPU milliseconds spent by the worker
processes, the producer (the bench process placing the orders), PostgreSQL and the broker,
divided by the messages handled."""

PRODUCER = """\
Command mode publishes one command per consumer, so the producer's work, and what it must know,
grows with every consumer added. Event mode publishes one event and names nobody.

On **RabbitMQ** the broker's fanout exchange copies the message into each bound queue after the
one publish, so event mode's producer time stays flat as subscribers are added.

On **Redis** there is no broker-side routing. kombu keeps the exchange's bindings in a Redis set,
and it is the *producer* that looks them up and pushes one copy (LPUSH) into each bound queue's
list. This app binds a topic exchange with `#` on Redis, because kombu's Redis fanout is
PUBLISH/SUBSCRIBE and drops every event published while a subscriber is offline (see
[Delivery guarantees](README.md#delivery-guarantees-broker-by-broker)). So on Redis the
*producer* makes the copies: one more LPUSH per subscriber, which the *queue copies/order* column
counts. Each is one Redis round trip, a fraction of a millisecond next to the order's
transaction, so the growth is small here but it is the producer's, and it grows with every
subscriber; on RabbitMQ the broker pays it. Either way the producer's code names no consumer: the
coupling is in the code, the cost is in the transport."""

LATENCY = """\
From placing an order until every consumer is done with it, against the round trip of a no-op
task on the same broker (*raw*)."""

EVENTSTORE = """\
This app's event store against the eventsourcing library on the same database, and against the
floor: a bare scan of the same rows through the database driver, which no replay can beat."""

MEMORY = """\
Resident memory of each worker process before and after a long run of messages: steady growth
here would be a leak that only shows after days in production."""

# (row label, part of the database's entry, orders/s key, events/s key)
STORE_ROWS = (
    ("this app: append", "shop", "append_orders_per_s", "append_events_per_s"),
    ("this app: replay all", "shop", "", "replay_all_events_per_s"),
    ("this app: replay one order", "shop", "replay_single_orders_per_s", "replay_single_events_per_s"),
    ("this app: rebuild read model", "shop", "", "rebuild_events_per_s"),
    ("{lib}: write", "eventsourcing", "write_orders_per_s", "write_events_per_s"),
    ("{lib}: write, one save per order", "eventsourcing", "", "write_one_save_per_order_events_per_s"),
    ("{lib}: notification-log read", "eventsourcing", "", "read_events_per_s"),
    ("{lib}: notification-log read + fold", "eventsourcing", "", "read_fold_events_per_s"),
    ("{lib}: replay one aggregate", "eventsourcing", "", "replay_single_events_per_s"),
    ("floor: {floor}", "floor", "", "scan_events_per_s"),
)


def header(results: Mapping[str, Any], source: str) -> list[str]:
    meta = results.get("meta") or {}
    machine, workers = meta.get("machine") or {}, meta.get("workers") or {}
    versions = [f"{label(k)} {machine[k]}" for k in VERSIONS if machine.get(k)]
    try:
        when = datetime.fromisoformat(str(meta["started_at"])).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (KeyError, ValueError):
        when = "on an unknown date"
    duration = num(meta.get("duration_s"))
    took = f", took {int(duration // 60)} min {duration % 60:.0f} s" if duration is not None else ""
    kind = "a **quick** (reduced) run" if meta.get("quick") else "a full run"
    urls = meta.get("brokers") or {}
    brokers = ", ".join(f"{label(k)} `{urls[k]}`" for k in sorted(urls, key=lambda k: (*BROKERS, k).index(k)))
    return [
        f"<!-- generated by `python -m bench.report` from {source} — do not edit by hand -->",
        "# Benchmarks: command mode vs event mode",
        "",
        f"Measured {when}{took}: {kind} of `{meta.get('command', 'make bench')}`.",
        "",
        f"- Machine: {machine.get('cpus', '?')} CPUs, {machine.get('memory_gb', '?')} GB RAM, "
        f"{machine.get('platform', 'unknown platform')}.",
        f"- Versions: {', '.join(versions) or 'not recorded'}.",
        f"- Workers: {workers.get('processes', '?')} processes, {workers.get('pool_slots', '?')} pool slots.",
        f"- Brokers: {brokers or 'not recorded'}.",
        *runs(meta),
        "",
        "Reproduce with `make bench` (runs everything, then writes this file and the plots), or",
        "`python -m bench --quick --json /tmp/q.json` for a reduced run that takes under a minute.",
        "",
        READING,
    ]


def runs(meta: Mapping[str, Any]) -> list[str]:
    """The runs a report was put together from, when it was more than one: a long run stopped by
    a bench bug keeps what it measured (``latest.partial.json``), and a second run measures the
    rest, rather than the report hiding where each number comes from."""
    parts = [r for r in meta.get("runs") or [] if isinstance(r, Mapping)]
    if len(parts) < 2:
        return []
    out = [f"- Put together from {len(parts)} runs on this machine, one after the other:"]
    for run in parts:
        why = f"; {run['why_stopped']}" if run.get("why_stopped") else ""
        out.append(
            f"  - `{run.get('command', '?')}`, started {run.get('started_at', '?')}: {run.get('kept', '?')}{why}."
        )
    return out


def targets(results: Mapping[str, Any]) -> list[str]:
    rows, notes = [], []
    for t in results.get("targets") or []:
        where = label(str(t.get("broker") or t.get("database") or DASH))
        shown = partial(pct, scale=100, sign="-") if t.get("unit") == "%" else ratio
        direction = {">=": "≥", "<=": "≤"}.get(str(t.get("direction")), str(t.get("direction", "")))
        goal = f"{direction} {shown(t.get('goal'))}".strip()
        met = {True: "✅ yes", False: "❌ no"}.get(t.get("met"), NOT_MEASURED)
        rows.append([str(t.get("label") or t.get("id") or "?"), where, shown(t.get("ratio")), goal, met])
        notes += [f"- *{t.get('id', '?')}, {where}:* {t['note']}"] if t.get("note") else []
    out = ["", "## Targets", "", table(["Target", "Broker / database", "Measured", "Goal", "Met"], rows, text=2)]
    out += ["", *notes] if notes else []
    for finding in results.get("findings") or []:
        out += ["", str(finding).strip()]
    return out


def throughput(results: Mapping[str, Any], plots: Mapping[str, str]) -> list[str]:
    section = results.get("throughput")
    out = ["", "## Throughput", "", THROUGHPUT]
    head = ["Run", "Measured over", "Orders/s", "Handled msgs/s", "Handled per order", "Handled / raw"]
    head += ["Handled / raw + INSERT"]
    for key, data in ordered(section, BROKERS):
        rows, gaps = [], []
        for run in ("raw", "raw_write", *MODES):
            if not isinstance(d := data.get(run), Mapping):
                gaps.append(f"\n*{RUN_NAMES.get(run, run + ' mode')}: {NOT_MEASURED}.*")
            elif run in RUN_NAMES:
                over = f"{count(d.get('tasks'))} tasks in {rate(d.get('seconds'))} s"
                raw_rate, own = num(part(data, "raw").get("tasks_per_s")), num(d.get("tasks_per_s"))
                versus = times(own / raw_rate) if raw_rate and own is not None and run != "raw" else "1.00×"
                rows.append([RUN_NAMES[run], over, DASH, *cells(d, "tasks_per_s"), DASH, versus, DASH])
            else:
                over = f"{count(d.get('orders'))} orders in {rate(d.get('seconds'))} s"
                keys = ("orders_per_s", "handled_per_s", "handled_per_order", "handled_vs_raw", "handled_vs_raw_write")
                rows.append([f"{run} mode", over, *cells(d, *keys)])
        out += ["", f"### {label(key)}", "", table(head, rows), "", *gaps, *cpu_table(data)]
    return [*out, *closing(BROKERS, section, plots, "throughput", "Throughput per broker")]


CPU_KINDS = ("workers", "producer", "postgres", "broker", "total")


def cpu_table(data: Mapping[str, Any]) -> list[str]:
    """Who pays for a message: with every CPU busy, this (not the rate) says where the time goes."""
    rows = []
    for run in ("raw", "raw_write", *MODES):
        spent = part(part(data, run), "cpu_ms_per_handled")
        if spent:
            name = RUN_NAMES.get(run, f"{run} mode (per handled message)")
            rows.append([name, *(f"{v:,.2f}" if (v := num(spent.get(k))) is not None else DASH for k in CPU_KINDS)])
    if not rows:
        return []
    head = ["CPU ms per message", "Workers", "Producer", "PostgreSQL", "Broker", "Total"]
    return ["", table(head, rows), ""]


def producer(results: Mapping[str, Any], plots: Mapping[str, str]) -> list[str]:
    section = results.get("producer")
    out = ["", "## Producer cost vs subscribers", "", PRODUCER]
    head = ["Subscribers", "Command median ms", "Command p95 ms", "Command msgs/order"]
    head += ["Event median ms", "Event p95 ms", "Event msgs/order", "Event queue copies/order"]
    for key, data in ordered(section, BROKERS):
        by_subscribers: dict[float, dict[str, Any]] = {}
        for mode in MODES:
            for r in data.get(mode) or []:
                if isinstance(r, Mapping) and (n := num(r.get("subscribers"))) is not None:
                    by_subscribers.setdefault(n, {})[mode] = r
        rows = []
        for n, m in sorted(by_subscribers.items()):
            c = cells(m.get("command"), "median_ms", "p95_ms", "published_per_order")
            e = cells(m.get("event"), "median_ms", "p95_ms", "published_per_order", "broker_copies_per_order")
            rows.append([f"{n:.0f}", *c, *e])
        eight = "; ".join(f"{m} mode {ratio(data.get(f'{m}_8_vs_1'))}" for m in MODES)
        out += ["", f"### {label(key)}", "", table(head, rows), "", f"Median at 8 subscribers vs 1: {eight}."]
    return [*out, *closing(BROKERS, section, plots, "producer_cost", "Producer cost vs subscribers")]


def latency(results: Mapping[str, Any], plots: Mapping[str, str]) -> list[str]:
    section = results.get("latency")
    out = ["", "## End-to-end latency", "", LATENCY]
    head = ["Run", "Samples", "p50 ms", "p95 ms", "p99 ms", "p50 / raw"]
    for key, data in ordered(section, BROKERS):
        rows = []
        for run in ("raw", *MODES):
            if isinstance(d := data.get(run), Mapping):
                name = "raw no-op round trip" if run == "raw" else f"{run} mode"
                vs = ["1.00×"] if run == "raw" else cells(d, "p50_vs_raw")
                rows.append([name, *cells(d, "samples", "p50_ms", "p95_ms", "p99_ms"), *vs])
        out += ["", f"### {label(key)}", "", table(head, rows)]
    return [*out, *closing(BROKERS, section, plots, "latency", "End-to-end latency per broker")]


def eventstore(results: Mapping[str, Any], plots: Mapping[str, str]) -> list[str]:
    section = results.get("eventstore")
    out = ["", "## Event store", "", EVENTSTORE]
    for key, data in ordered(section, DATABASES):
        parts = {p: part(data, p) for p in ("shop", "eventsourcing", "floor")}
        version = parts["eventsourcing"].get("version")
        names = {"lib": f"eventsourcing {version}" if version else "eventsourcing"}
        names["floor"] = str(parts["floor"].get("kind", "raw scan"))
        rows = [[name.format(**names), *cells(parts[p], o, e)] for name, p, o, e in STORE_ROWS]
        rows = [r for r in rows if r[1:] != [DASH, DASH]]
        size = f"{rate(data.get('events'))} events over {rate(data.get('orders'))} orders"
        size += f"; append measured on {rate(data.get('append_sample_orders'))} orders."
        measured = [(k, v) for k, v in part(data, "ratios").items() if num(v) is not None]
        line = "Ratios: " + "; ".join(f"{k.replace('_', ' ')} {ratio(v)}" for k, v in measured) + "."
        out += ["", f"### {label(key)}", "", size, "", table(["Operation", "Orders/s", "Events/s"], rows), "", line]
    return [*out, *closing(DATABASES, section, plots, "eventstore", "Event store rates per database")]


def memory(results: Mapping[str, Any], plots: Mapping[str, str]) -> list[str]:
    section = results.get("memory")
    out = ["", "## Worker memory", "", MEMORY]
    for key, data in ordered(section, BROKERS):
        workers = [w for w in data.get("workers") or [] if isinstance(w, Mapping)]
        rows = [[str(w.get("service", "?")), *cells(w, "start_mb", "end_mb", "growth_pct")] for w in workers]
        rows.append(["**total**", *cells(data, "total_start_mb", "total_end_mb", "total_growth_pct")])
        size = f"{rate(data.get('messages'))} messages over {rate(data.get('orders'))} orders"
        size += f"; largest growth of one process {pct(data.get('max_growth_pct'))}."
        out += ["", f"### {label(key)}", "", size, "", table(["Worker", "Start MB", "End MB", "Growth"], rows)]
    return [*out, *closing(BROKERS, section, plots, "memory", "Worker RSS per broker")]


def render_markdown(results: Mapping[str, Any], *, plots: Mapping[str, str] | None = None, source: str = SOURCE) -> str:
    """The whole report as text. ``plots`` maps a figure name (as in ``bench.plots.FIGURES``) to
    its link relative to the Markdown file; a figure not in it is not embedded."""
    parts = [*header(results, source), *targets(results)]
    for section in (throughput, producer, latency, eventstore, memory, report_scaling.section):
        parts += section(results, plots or {})
    parts += report_workers.markdown(results, plots or {}, table)
    text = "\n".join(parts)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip("\n") + "\n"


def write_report(results: dict[str, Any], *, markdown: Path, plots_dir: Path, source: str = SOURCE) -> list[Path]:
    """Plots first, so the Markdown links only the figures that were actually drawn."""
    written = write_plots(results, plots_dir) | report_workers.write_plot(results, plots_dir)
    written |= plots_scaling.write_plot(results, plots_dir)
    links = {name: Path(os.path.relpath(path, markdown.parent)).as_posix() for name, path in written.items()}
    markdown.parent.mkdir(parents=True, exist_ok=True)
    markdown.write_text(render_markdown(results, plots=links, source=source), encoding="utf-8")
    return [markdown, *written.values()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description="Write BENCHMARKS.md and its plots.")
    parser.add_argument("results", nargs="?", type=Path, default=ROOT / SOURCE, help="results JSON (%(default)s)")
    parser.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md", help="report to write")
    parser.add_argument("--plots", type=Path, default=ROOT / "bench" / "results", help="directory for the PNGs")
    args = parser.parse_args(argv)
    path = args.results.resolve()
    source = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
    results = json.loads(path.read_text(encoding="utf-8"))
    for written in write_report(results, markdown=args.markdown, plots_dir=args.plots, source=source):
        print(written)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
