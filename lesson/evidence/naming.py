"""The message names each mode uses, where they are declared and used, and whether they follow
the naming rule (``messaging.kernel.names``: commands imperative, events past tense).

The registry refuses a badly named contract at import time; this module reads the same rule
against the source, so the evidence can show *which word* the rule judged and where it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lesson.evidence import declarations
from lesson.evidence.coupling import BOTH, COMMAND, EVENT, MODES, PRODUCER, module_mode
from lesson.evidence.model import SourceRef
from lesson.evidence.sources import (
    code_files,
    enclosing_statement,
    parsed,
    relative,
    resolve_root,
    span,
)
from messaging.kernel.errors import NamingError
from messaging.kernel.names import Kind, check_name

#: The kind of message each mode's producer sends.
MODE_KIND = {COMMAND: Kind.COMMAND, EVENT: Kind.EVENT}


@dataclass(frozen=True)
class MessageName:
    name: str
    kind: Kind | None  # None: used in the code, but no contract declares it
    defined: tuple[SourceRef, ...]
    used: tuple[SourceRef, ...]
    problem: str  # "" when the name follows the rule for its kind

    @property
    def follows_rule(self) -> bool:
        return not self.problem

    @property
    def word(self) -> str:
        """The word the rule judges: a command's verb comes first, an event's fact comes last."""
        return judged_word(self.name, self.kind or Kind.EVENT)


def judged_word(name: str, kind: Kind) -> str:
    words = name.split(".", 1)[-1].split("_")
    return words[0] if kind is Kind.COMMAND else words[-1]


def rule_problem(name: str, kind: Kind | None) -> str:
    """Why ``name`` breaks the rule for ``kind`` ("" if it does not)."""
    if kind is None:
        return f"{name!r}: no contract declares it"
    try:
        check_name(name, kind)
    except NamingError as exc:
        return str(exc)
    return ""


def message_names(root: Path | None = None, producer: str = PRODUCER) -> dict[str, list[MessageName]]:
    """Mode -> the message names the producer's modules use in that mode.

    A mode's own modules contribute every declared name they use (the commands command mode
    sends and the replies it handles; the events event mode publishes and the facts it reacts
    to). Modules both modes run contribute the names of that mode's kind only: the services
    apply ``order.paid`` in both modes, but only event mode publishes it.
    """
    base = resolve_root(root)
    contracts = declarations.contracts(base)
    kinds = {c.name: c.kind for c in contracts}
    defined: dict[str, list[SourceRef]] = {}
    for contract in contracts:
        defined.setdefault(contract.name, []).append(contract.ref)
    used: dict[str, dict[str, list[SourceRef]]] = {mode: {} for mode in MODES}
    for file in code_files(base, producer):
        path = relative(base, file)
        source = parsed(file)
        mode = module_mode(path, source)
        for value, constant in source.strings:
            kind = kinds.get(value)
            if kind is None:
                continue
            parent_of = source.parents
            for target in MODES if mode == BOTH else (mode,):
                if mode == BOTH and kind is not MODE_KIND[target]:
                    continue
                statement = enclosing_statement(constant, parent_of)
                ref = span(path, statement, f"{path} uses the {kind.value} {value}")
                used[target].setdefault(value, []).append(ref)
    return {
        mode: [
            MessageName(
                name, kinds.get(name), tuple(defined.get(name, [])), tuple(refs), rule_problem(name, kinds.get(name))
            )
            for name, refs in sorted(names.items())
        ]
        for mode, names in used.items()
    }


def sent_names(root: Path | None = None, producer: str = PRODUCER) -> dict[str, list[MessageName]]:
    """Mode -> the names of that mode's kind: what command mode sends and event mode publishes."""
    return {
        mode: [n for n in names if n.kind is MODE_KIND[mode]] for mode, names in message_names(root, producer).items()
    }
