"""Where each saga style writes the fulfilment down, read from the source, and what adding a step
costs each, read from two real patches (docs/sagas/).

Orchestration (command mode) writes the plan once: a table of ``Step`` rows that orders/saga.py
walks. Choreography (event mode) writes it nowhere as a whole: each service's handler knows one
link, "when this fact is stated, do my part and state the next". Both answers are computed here
(syntax trees of the handler modules and of the plan), never typed in, so that the chapter's
claims move with the code: add a link, and the count goes up.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lesson.evidence import declarations
from lesson.evidence.model import SourceRef
from lesson.evidence.sources import (
    apps,
    code_files,
    enclosing_statement,
    find_assignment,
    parsed,
    relative,
    resolve_root,
    span,
)

#: The module holding the orchestrated plan, and the names of its remote and local steps.
PLAN_MODULE = "orders/flows/commanding.py"
PLAN, LOCAL_STEPS = "FULFILMENT", "LOCAL_STEPS"
#: The fact orders states when an order is placed: the cause of the choreography's first link.
START = "order.placed"
#: What ends the choreography: orders' service function that confirms the order.
CONFIRM = "confirm_order"
#: The fact orders states when it gives an order up: the choreography's undo reacts to it.
CANCELLED = "order.cancelled"
#: The patches that add a loyalty step in each style, relative to the repository root.
PATCHES = {"command": "docs/sagas/loyalty-orchestration.diff", "event": "docs/sagas/loyalty-choreography.diff"}
STYLE = {"command": "orchestration", "event": "choreography"}


@dataclass(frozen=True)
class PlanStep:
    """One row of the orchestrated plan: ``Step(name, command, payload, undo=...)``."""

    name: str
    command: str
    undo: str


@dataclass(frozen=True)
class Link:
    """A subscriber handler: the fact it reacts to and what it causes (events it publishes, or
    ``CONFIRM``), with the handler's lines and the statements that cause the next step."""

    service: str
    handler: str
    reacts_to: str
    causes: tuple[str, ...]
    ref: SourceRef  # the whole handler, decorator included
    head: SourceRef  # its decorator and ``def`` line: what it reacts to
    cause_refs: tuple[SourceRef, ...]  # the publish (or confirm) statements, maybe in a helper it calls

    @property
    def module(self) -> str:
        return self.ref.path


@dataclass(frozen=True)
class Written:
    """One style's answer: where the order of the steps is written, and which modules know it."""

    mode: str
    refs: tuple[SourceRef, ...]
    modules: tuple[str, ...]
    links: tuple[Link, ...] = ()  # event mode: the handlers that each know one link


def plan_modules(root: Path | None = None) -> list[SourceRef]:
    """Every module-level tuple of ``Step(...)`` rows in any app: each is a plan, and its module
    knows the order of its steps."""
    base = resolve_root(root)
    found = []
    for app in apps(base):
        for file in code_files(base, app):
            for node in parsed(file).tree.body:
                if isinstance(node, ast.Assign) and _is_plan(node.value):
                    names = ", ".join(t.id for t in node.targets if isinstance(t, ast.Name))
                    found.append(span(relative(base, file), node, f"{names}: the steps in order, with their undo"))
    return found


def plan_steps(root: Path | None = None) -> list[PlanStep]:
    """The rows of ``FULFILMENT``, in order, as the source spells them."""
    for node in parsed(resolve_root(root) / PLAN_MODULE).tree.body:
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple) and _is_plan(node.value)):
            continue
        if any(isinstance(target, ast.Name) and target.id == PLAN for target in node.targets):
            return [_plan_step(call) for call in node.value.elts if isinstance(call, ast.Call)]
    return []


def handlers(root: Path | None = None) -> list[Link]:
    """Every subscriber handler of every app (``@<subscriber>.on("event")``) and what it causes."""
    base = resolve_root(root)
    out = []
    for subscriber in declarations.subscribers(base):
        path = subscriber.ref.path
        source = parsed(base / path)
        local = {f.name: f for f in source.tree.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)}
        for function in local.values():
            for decorator in function.decorator_list:
                event = _reacts_to(decorator)
                if not event:
                    continue
                causes = list(_causes(function, local, source.parents, path, set()))
                names = tuple(dict.fromkeys(name for name, _ in causes))
                why = f"{subscriber.service} reacts to {event}" + (f" and causes {', '.join(names)}" if names else "")
                out.append(
                    Link(
                        subscriber.service,
                        function.name,
                        event,
                        names,
                        span(path, function, why),
                        SourceRef(path, decorator.lineno, function.lineno, f"reacts to {event}"),
                        tuple(ref for _, ref in causes),
                    )
                )
    return sorted(out, key=lambda link: (link.module, link.ref.line))


def forward_links(root: Path | None = None) -> list[Link]:
    """The handlers on a way from ``START`` to ``CONFIRM``: each reacts to a fact the saga's
    earlier steps state and causes one that leads on to the confirmation. Failure and undo
    handlers lead elsewhere (a cancellation, a release) and are not counted."""
    every = handlers(root)
    reached, frontier = {START}, [START]
    while frontier:
        event = frontier.pop()
        for link in every:
            if link.reacts_to == event:
                new = set(link.causes) - reached
                reached |= new
                frontier += sorted(new)
    leads, changed = {CONFIRM}, True
    while changed:
        before = len(leads)
        leads |= {link.reacts_to for link in every if leads & set(link.causes)}
        changed = len(leads) != before
    return [link for link in every if link.reacts_to in reached and leads & set(link.causes)]


def undo_links(root: Path | None = None) -> list[Link]:
    """Choreography's undo, also spread out: the handlers, in the modules that hold a forward
    link, for a failure fact a forward link states (no stock, a decline) or for ``CANCELLED``."""
    every = handlers(root)
    forward = forward_links(root)
    failures = {event for link in forward for event in link.causes} - {link.reacts_to for link in forward} - {CONFIRM}
    owners = {link.module for link in forward}
    return [
        link
        for link in every
        if link not in forward and link.module in owners and link.reacts_to in failures | {CANCELLED}
    ]


def where_written(root: Path | None = None) -> dict[str, Written]:
    """Mode -> where the order of the fulfilment's steps is written, and which modules know it."""
    base = resolve_root(root)
    plan = find_assignment(base, PLAN_MODULE, PLAN, "the whole plan: each remote step in order, with its undo")
    local = find_assignment(base, PLAN_MODULE, LOCAL_STEPS, "the steps orders runs itself after the last one")
    tables = plan_modules(base)
    links = forward_links(base)
    event_refs = tuple(
        SourceRef(link.ref.path, link.ref.line, link.ref.end_line, f"{link.reacts_to} → {', '.join(link.causes)}")
        for link in links
    )
    return {
        "command": Written(
            "command", tuple(r for r in (plan, local) if r), tuple(dict.fromkeys(t.path for t in tables))
        ),
        "event": Written("event", event_refs, tuple(dict.fromkeys(link.module for link in links)), tuple(links)),
    }


# --- what a patch changes ---------------------------------------------------------------------


@dataclass(frozen=True)
class FileChange:
    """One file of a unified diff: its lines added and removed, and whether it is new."""

    path: str
    added: int
    removed: int
    new: bool


@dataclass(frozen=True)
class PatchCost:
    """What one patch touches, and how many of the touched files already knew the flow."""

    mode: str
    path: str  # the patch file, relative to the repository root
    files: tuple[FileChange, ...]
    flow_modules: tuple[str, ...]  # existing modules that knew the order of the steps before it

    @property
    def added(self) -> int:
        return sum(f.added for f in self.files)

    @property
    def removed(self) -> int:
        return sum(f.removed for f in self.files)

    @property
    def existing(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files if not f.new)

    @property
    def touched_flow_modules(self) -> tuple[str, ...]:
        return tuple(path for path in self.existing if path in self.flow_modules)


def read_diff(text: str) -> list[FileChange]:
    """The files of a ``git diff`` and their +/- line counts (hunk lines only, not headers)."""
    files: list[FileChange] = []
    path, added, removed, new, in_hunk = "", 0, 0, False, False
    for line in text.splitlines():
        if line.startswith("diff --git "):
            if path:
                files.append(FileChange(path, added, removed, new))
            path, added, removed, new, in_hunk = line.split(" b/", 1)[1], 0, 0, False, False
        elif not in_hunk and line.startswith("new file mode"):
            new = True
        elif line.startswith("@@"):
            in_hunk = True
        elif in_hunk and line.startswith("+"):
            added += 1
        elif in_hunk and line.startswith("-"):
            removed += 1
    if path:
        files.append(FileChange(path, added, removed, new))
    return files


def patch_costs(root: Path | None = None) -> list[PatchCost]:
    """Each style's loyalty patch, measured against what knew the flow before it."""
    base = resolve_root(root)
    written = where_written(base)
    out = []
    for mode, path in PATCHES.items():
        files = read_diff((base / path).read_text(encoding="utf-8"))
        out.append(PatchCost(mode, path, tuple(files), written[mode].modules))
    return out


# --- reading one handler ----------------------------------------------------------------------


def _is_plan(value: ast.expr) -> bool:
    calls = value.elts if isinstance(value, ast.Tuple | ast.List) else []
    return bool(calls) and all(isinstance(c, ast.Call) and _name(c.func) == "Step" for c in calls)


def _plan_step(call: ast.Call) -> PlanStep:
    literals = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    undo = next((k.value.value for k in call.keywords if k.arg == "undo" and isinstance(k.value, ast.Constant)), "")
    return PlanStep(literals[0], literals[1], str(undo))


def _reacts_to(decorator: ast.expr) -> str:
    """The event of ``@x.on("event", ...)``; "" for any other decorator."""
    if isinstance(decorator, ast.Call) and _name(decorator.func) == "on" and decorator.args:
        first = decorator.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return ""


def _causes(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    local: dict[str, ast.FunctionDef | ast.AsyncFunctionDef],
    parents: dict[ast.AST, ast.AST],
    path: str,
    seen: set[str],
) -> Iterable[tuple[str, SourceRef]]:
    """What ``function`` causes: each ``….publish("event", …)`` and each call of ``CONFIRM``,
    following calls of the module's own functions (payments decides in a helper, ``_decide``)."""
    seen.add(function.name)
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        called = _name(node.func)
        if called == "publish" and node.args and isinstance(node.args[0], ast.Constant):
            event = str(node.args[0].value)
            yield event, span(path, enclosing_statement(node, parents), f"states {event}")
        elif called == CONFIRM:
            yield CONFIRM, span(path, enclosing_statement(node, parents), "confirms the order")
        elif isinstance(node.func, ast.Name) and called in local and called not in seen:
            yield from _causes(local[called], local, parents, path, seen)


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
