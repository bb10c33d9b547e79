"""The lesson's two comparison tables, shaped for the page, with a viewer link per source span.

The tables are computed by ``lesson.evidence.tables`` (from the code and from measurements); this
module only groups the rows and adds the URLs the template cannot build itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse

from lesson.evidence import tables as measured_tables
from lesson.evidence.model import Cell, SourceRef, TableRow

#: The lesson's tables: number -> (title, left column, right column).
TABLES = {
    1: ("Command-based vs event-based messaging", "Command-based", "Event-based"),
    2: ("Queue-based vs event-driven architecture", "Queue-based", "Event-driven"),
}


@dataclass(frozen=True)
class SourceLink:
    location: str  # "orders/flows/commanding.py:12-18"
    why: str
    url: str  # the JSON excerpt, shown in the page by walkthrough.js


@dataclass(frozen=True)
class CellView:
    lesson: str  # what the lesson claims
    value: str  # what the run measured
    measured: str  # how
    sources: list[SourceLink]


@dataclass(frozen=True)
class RowView:
    slug: str
    aspect: str
    holds: bool
    notes: tuple[str, ...]
    left: CellView
    right: CellView


@dataclass(frozen=True)
class Table:
    number: int
    title: str
    left: str
    right: str
    rows: list[RowView]


def source_url(ref: SourceRef) -> str:
    query = {"path": ref.path, "line": ref.line, "end_line": ref.end_line, "why": ref.why}
    return f"{reverse('walkthrough:source')}?{urlencode(query)}"


def comparison_tables() -> list[Table]:
    """Both tables, in the lesson's order. A row with a table number the lesson does not have is
    shown under its own heading rather than dropped."""
    rows = measured_tables.comparison_tables()  # looked up at call time: tests stand in for the slow measurement
    numbers = sorted({*TABLES, *(row.table for row in rows)})
    tables = []
    for number in numbers:
        title, left, right = TABLES.get(number, (f"Table {number}", "Command mode", "Event mode"))
        tables.append(Table(number, title, left, right, [row_view(row) for row in rows if row.table == number]))
    return tables


def row_view(row: TableRow) -> RowView:
    return RowView(
        slug=row.slug,
        aspect=row.aspect,
        holds=row.holds,
        notes=row.notes,
        left=cell_view(row.lesson[0], row.command),
        right=cell_view(row.lesson[1], row.event),
    )


def cell_view(lesson: str, cell: Cell) -> CellView:
    links = [SourceLink(ref.location, ref.why, source_url(ref)) for ref in cell.sources]
    return CellView(lesson=lesson, value=cell.value, measured=cell.measured, sources=links)
