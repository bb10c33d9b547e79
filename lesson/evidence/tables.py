"""The lesson's two comparison tables, every cell measured: ``comparison_tables()``.

Each row is one small function (``messaging_rows`` for table 1, ``architecture_rows`` for
table 2) that reads the static analysis of the source and what this database shows happened.
It only reads: nothing here places an order. A mode with no orders yet gets cells that say
so, and a row's ``holds`` rests on what was measured.
"""

from __future__ import annotations

from pathlib import Path

from lesson.evidence import sources
from lesson.evidence.architecture_rows import TABLE_2
from lesson.evidence.facts import gather
from lesson.evidence.messaging_rows import TABLE_1
from lesson.evidence.model import SourceRef, TableRow

ROWS = (*TABLE_1, *TABLE_2)


def comparison_tables(root: Path | None = None) -> list[TableRow]:
    """The twelve rows, table 1 then table 2, in the lesson's order."""
    facts = gather(root)
    return [build(facts) for build in ROWS]


def row(slug: str, root: Path | None = None) -> TableRow:
    """One row by its slug (it still measures everything it needs)."""
    for candidate in comparison_tables(root):
        if candidate.slug == slug:
            return candidate
    raise LookupError(f"no row {slug!r}")


def source_excerpt(ref: SourceRef, root: Path | None = None, context: int = 2) -> list[tuple[int, str]]:
    """The numbered lines behind ``ref``, with ``context`` lines around them. Raises
    ``sources.SourceError`` for a path outside the repository or a file that is not .py, .html,
    .txt or .md."""
    return sources.excerpt(ref, root, context)


__all__ = ["comparison_tables", "row", "source_excerpt"]
