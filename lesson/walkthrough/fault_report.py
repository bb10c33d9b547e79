"""The fault tier's results, when a run of it left them behind (``var/fault-report.json``).

``pytest -m faults`` (tests/faults/) stops real brokers, kills workers and duplicates messages
while hundreds of orders flow, then counts what was lost and what was applied twice. The
walkthrough shows that table as it was written, with the file's date: it is a measurement from
another run, not from this one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from rich import box
from rich.markup import escape
from rich.table import Table

#: (heading, key in a report row)
COLUMNS = (
    ("fault", "fault"),
    ("mode", "mode"),
    ("broker", "broker"),
    ("orders", "orders"),
    ("lost", "lost"),
    ("double-applied", "double_applied"),
    ("dead-lettered", "dead_lettered"),
    ("duplicates skipped", "duplicates_skipped"),
)


@dataclass(frozen=True)
class FaultReport:
    path: Path
    written: datetime
    rows: list[dict[str, Any]]


def report_path() -> Path:
    return Path(settings.VAR_DIR) / "fault-report.json"


def load(path: Path | None = None) -> FaultReport | None:
    """The report, or None when there is none. A file that is not a list of rows is an error:
    it would otherwise be shown as an empty, reassuring table."""
    path = path or report_path()
    if not path.exists():
        return None
    rows = json.loads(path.read_text())
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"{path}: expected a JSON list of report rows")
    return FaultReport(path, datetime.fromtimestamp(path.stat().st_mtime).astimezone(), rows)


def report_table(report: FaultReport) -> Table:
    table = Table(
        title=f"the fault tier (pytest -m faults), from {shown(report.path)} written {report.written:%Y-%m-%d %H:%M}",
        box=box.ROUNDED,
    )
    for heading, _ in COLUMNS:
        table.add_column(heading, justify="left" if heading in {"fault", "mode", "broker"} else "right")
    for row in report.rows:
        table.add_row(*[escape(str(row.get(key, "?"))) for _, key in COLUMNS])
    return table


def shown(path: Path) -> str:
    """``path`` relative to the project when it is inside it (``var/fault-report.json``)."""
    try:
        return str(path.relative_to(Path(settings.BASE_DIR)))
    except ValueError:
        return str(path)
