"""The session's table of fault runs: one row per run, kept for the end and written as it goes.

Each run hands its ``Row`` (tests/faults/checks.py) to ``record``, which keeps it in ``REPORT``
and rewrites ``var/fault-report.json`` with every row so far, so that a session cut short still
leaves the runs it finished. At the end of the session ``table`` prints them
(tests/faults/conftest.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from tests.faults.checks import Row
from tests.integration.workers import ROOT

REPORT_PATH = ROOT / "var" / "fault-report.json"
REPORT: list[dict[str, Any]] = []


def record(row: Row) -> None:
    """Keep the row for the session's table and rewrite var/fault-report.json with every row so far."""
    REPORT.append(asdict(row))
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text(json.dumps(REPORT, indent=2, default=str) + "\n")


def table(rows: Sequence[dict[str, Any]]) -> list[str]:
    headers = [
        "fault",
        "mode",
        "broker",
        "orders",
        "lost",
        "double-applied",
        "dead-lettered",
        "dups skipped",
        "redelivered",
        "s",
    ]
    keys = [
        "fault",
        "mode",
        "broker",
        "orders",
        "lost",
        "double_applied",
        "dead_lettered",
        "duplicates_skipped",
        "redelivered",
    ]
    body = [[str(row.get(k, "")) for k in keys] + [f"{row['seconds']:.1f}"] for row in rows]
    widths = [max(len(h), *(len(line[i]) for line in body)) for i, h in enumerate(headers)]

    def fmt(cells: Sequence[str]) -> str:
        return " | ".join(
            c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return [fmt(headers), "-+-".join("-" * w for w in widths), *(fmt(line) for line in body)]
