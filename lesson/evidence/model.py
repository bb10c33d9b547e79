"""The shapes evidence takes, shared by the CLI walkthrough, the web page and the admin.

A claim of the lesson's tables is only shown with what backs it: the measurement taken during the
run, and the exact source lines it was read from. These types carry both, and nothing else, so
that every view renders the same evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SourceRef:
    """A span of a file in this repository that backs a claim."""

    path: str  # relative to the repository root, POSIX separators: "orders/flows/commanding.py"
    line: int  # first line, 1-based
    end_line: int  # last line, inclusive
    why: str  # what these lines show, e.g. "names the inventory service's command"

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}" if self.line == self.end_line else f"{self.path}:{self.line}-{self.end_line}"


@dataclass(frozen=True)
class Cell:
    """One mode's cell of a table row: what the run measured, and where it can be seen."""

    value: str  # the short answer shown in the table, e.g. "Yes: names 4 consumers"
    measured: str  # how it was measured, e.g. "AST of orders/flows/commanding.py: 4 command names"
    sources: tuple[SourceRef, ...] = ()
    #: True when this database has nothing to measure for the mode yet (the value says what to do);
    #: the row's ``holds`` then rests on what was measured only.
    pending: bool = False


@dataclass(frozen=True)
class TableRow:
    """One row of the lesson's comparison tables, filled from measurements."""

    table: int  # 1: command vs event messaging; 2: queue-based vs event-driven architecture
    slug: str  # stable id, e.g. "producer-knows-consumers"
    aspect: str  # the lesson's row title, e.g. "Producer knows about consumers?"
    lesson: tuple[str, str]  # the lesson's own cells: (command/queue-based, event-based/event-driven)
    command: Cell
    event: Cell
    holds: bool  # whether the measurements agree with the lesson's claim
    notes: tuple[str, ...] = field(default=())
    #: Every check that was measured, with its outcome: ``holds`` is True when there is at least
    #: one and all passed. What could not be measured yet is in ``notes``, not here.
    checks: tuple[tuple[str, bool], ...] = field(default=())
