"""The report's building blocks: how each kind of number is written, and Markdown tables.

Shared by bench/report.py and the sections kept in modules of their own (bench/report_scaling.py),
so that those need not import report.py, which imports them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.plots import label, num, ordered, times

NOT_MEASURED = "not measured in this run"
DASH = "—"


def rate(value: Any) -> str:
    """Rates, counts, MB and milliseconds alike: 0–1 decimals, but two below 1 (a 0.35 ms publish)."""
    v = num(value)
    return DASH if v is None else f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}" if 0 < abs(v) < 1 else f"{v:,.1f}"


def count(value: Any) -> str:
    return DASH if (v := num(value)) is None else f"{v:,.0f}"


def ratio(value: Any) -> str:
    return DASH if (v := num(value)) is None else times(v)


def pct(value: Any, scale: float = 1.0, sign: str = "+") -> str:
    return DASH if (v := num(value)) is None else f"{v * scale:{sign}.1f}%"


def cells(data: Any, *keys: str) -> list[str]:
    """Formats by key (``_vs_`` a ratio, ``_pct`` a percentage, else a rate): one rule per kind of number."""
    d = data if isinstance(data, Mapping) else {}
    return [DASH if not k else (ratio if "_vs_" in k else pct if k.endswith("_pct") else rate)(d.get(k)) for k in keys]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], text: int = 1) -> str:
    """A Markdown table padded to column width, so it also reads as a table in plain text. The
    first ``text`` columns are left-aligned, the numbers after them right-aligned."""
    if not rows:
        return f"*{NOT_MEASURED.capitalize()}.*"
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [c.ljust(w) if i < text else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 2) if i < text else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def closing(known: Sequence[str], section: Any, plots: Mapping[str, str], name: str, alt: str) -> list[str]:
    """What ends every section: a line per expected broker or database the run skipped, then the plot."""
    present = {k for k, _ in ordered(section, known)}
    gaps = [f"\n*{label(k)}: {NOT_MEASURED}.*" for k in known if k not in present]
    return [*gaps, "", *([f"![{alt}]({plots[name]})"] if name in plots else [])]
