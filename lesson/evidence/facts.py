"""Everything the rows are filled from, measured once per table: the static analysis of the
source and, per mode, what this database's message log holds.

``Verdict`` collects a row's checks: ``holds`` is True only when something was measured and
every measured check agreed with the lesson; what could not be measured yet becomes a note.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from lesson.evidence import coupling, declarations, naming
from lesson.evidence.coupling import COMMAND, EVENT, MODES, Consumer, ConsumerRef
from lesson.evidence.declarations import CommandHandlerDef, ContractDef, SubscriberDef
from lesson.evidence.imports import ImportEdge, import_graph
from lesson.evidence.model import Cell, SourceRef, TableRow
from lesson.evidence.naming import MessageName
from lesson.evidence.selectors import ReplayCheck, mode_log, recent_orders, replay_check
from lesson.evidence.sources import resolve_root, snapshot
from lesson.evidence.traffic import ModeLog

#: The service name the read-model projector subscribes as (readmodel/handlers.py).
PROJECTOR = "projector"


@dataclass
class Facts:
    root: Path
    refs: dict[str, list[ConsumerRef]]  # mode -> the producer's references to consumers
    consumers: dict[str, Consumer]
    handlers: list[CommandHandlerDef]
    subscribers: list[SubscriberDef]
    contracts: list[ContractDef]
    names: dict[str, list[MessageName]]  # mode -> names that mode sends (commands) or publishes (events)
    graph: list[ImportEdge]
    logs: dict[str, ModeLog]
    _lines: dict[tuple[str, str], list[SourceRef]] = field(default_factory=dict)
    _replays: ReplayCheck | None = None

    def replays(self) -> ReplayCheck:
        """The event-mode orders' streams replayed against their rows (measured once per table)."""
        if self._replays is None:
            self._replays = replay_check(recent_orders(EVENT))
        return self._replays

    def named(self, mode: str) -> list[str]:
        return coupling.named_services(self.refs[mode])

    def producer_lines(self, service: str, mode: str) -> list[SourceRef]:
        key = (service, mode)
        if key not in self._lines:
            self._lines[key] = coupling.producer_lines(service, self.refs[mode], self.handlers)
        return self._lines[key]

    def consumer_subscribers(self) -> list[SubscriberDef]:
        """Subscribers other than the producer itself (orders also subscribes, to other services' facts)."""
        return [s for s in self.subscribers if s.app != coupling.PRODUCER]


def gather(root: Path | None = None) -> Facts:
    """The static facts (cached until a file of the project changes) and this database's logs."""
    base = resolve_root(root)
    static = _static(base, snapshot(base))
    return Facts(**static.__dict__, logs={mode: mode_log(mode) for mode in MODES})


@dataclass(frozen=True)
class _Static:
    root: Path
    refs: dict[str, list[ConsumerRef]]
    consumers: dict[str, Consumer]
    handlers: list[CommandHandlerDef]
    subscribers: list[SubscriberDef]
    contracts: list[ContractDef]
    names: dict[str, list[MessageName]]
    graph: list[ImportEdge]


@lru_cache(maxsize=4)
def _static(base: Path, files: tuple[tuple[str, int, int], ...]) -> _Static:
    """``files`` is the key only: a new snapshot (an edited file) computes everything again."""
    return _Static(
        root=base,
        refs=coupling.references_by_mode(base),
        consumers=coupling.consumers(base),
        handlers=declarations.command_handlers(base),
        subscribers=declarations.subscribers(base),
        contracts=declarations.contracts(base),
        names=naming.sent_names(base),
        graph=import_graph(base),
    )


def not_measured(mode: str) -> str:
    return f"not measured yet: place an order in {mode} mode"


@dataclass
class Verdict:
    """A row's checks: what was measured and agreed, what disagreed, what is still to measure."""

    checks: list[tuple[str, bool]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def check(self, claim: str, ok: bool) -> bool:
        self.checks.append((claim, ok))
        return ok

    def unmeasured(self, what: str) -> None:
        self.missing.append(what)

    @property
    def holds(self) -> bool:
        return bool(self.checks) and all(ok for _, ok in self.checks)

    @property
    def notes(self) -> tuple[str, ...]:
        failed = [f"does not hold: {claim}" for claim, ok in self.checks if not ok]
        return (*failed, *self.missing)


def cell(
    log: ModeLog,
    static: str,
    runtime: str | None,
    *,
    measured: str,
    sources: Iterable[SourceRef | None],
    verdict: Verdict,
    todo: str | None = None,
) -> Cell:
    """A cell from its static part and its runtime part. ``runtime`` is None when this database
    holds nothing to measure for the mode yet: the cell then says what to do (``todo``, or place
    an order in that mode), and the verdict notes it."""
    refs = tuple(dedupe([ref for ref in sources if ref is not None]))
    if runtime is not None:
        return Cell(value=f"{static}; {runtime}", measured=measured, sources=refs)
    if not log.measured:
        todo = not_measured(log.mode)
    todo = todo or f"not measured yet: nothing in the message log for {log.mode}-mode orders"
    verdict.unmeasured(f"{log.mode} mode: {todo}")
    return Cell(value=f"{static} · {todo}", measured=measured, sources=refs, pending=True)


def row(table: int, slug: str, aspect: str, lesson: tuple[str, str], cells: dict[str, Cell], v: Verdict) -> TableRow:
    return TableRow(table, slug, aspect, lesson, cells[COMMAND], cells[EVENT], v.holds, v.notes, tuple(v.checks))


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else words or word + 's'}"


def listed(items: Iterable[str], limit: int = 6) -> str:
    """``a, b, c and 2 more``: sorted, so the text is stable."""
    ordered = sorted(items)
    shown = ", ".join(ordered[:limit])
    return shown + (f" and {len(ordered) - limit} more" if len(ordered) > limit else "")


def dedupe(refs: Iterable[SourceRef]) -> list[SourceRef]:
    seen: set[tuple[str, int, int]] = set()
    out = []
    for ref in refs:
        key = (ref.path, ref.line, ref.end_line)
        if key not in seen:
            seen.add(key)
            out.append(ref)
    return out


__all__ = [
    "COMMAND",
    "EVENT",
    "PROJECTOR",
    "Facts",
    "Verdict",
    "cell",
    "dedupe",
    "gather",
    "listed",
    "not_measured",
    "row",
]
