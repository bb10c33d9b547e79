"""What the source declares, read from syntax trees (no Django needed): message contracts,
command handlers and event subscribers, each with the lines that declare it.

These are the facts the coupling evidence is measured against: a command name belongs to the
service whose ``@command_handler`` handles it; a subscriber belongs to the app whose
``handlers.py`` creates its ``Subscriber`` and whose ``apps.py`` ``ready()`` imports that module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lesson.evidence.imports import imports_in
from lesson.evidence.model import SourceRef
from lesson.evidence.sources import Parsed, apps, code_files, parsed, relative, resolve_root, span
from messaging.kernel.names import Kind

CONTRACT_DECORATORS = {"command": Kind.COMMAND, "event": Kind.EVENT}


@dataclass(frozen=True)
class ContractDef:
    name: str
    kind: Kind
    version: int
    ref: SourceRef


@dataclass(frozen=True)
class CommandHandlerDef:
    """``@command_handler("inventory.reserve", service="inventory")``: one command, one handler."""

    name: str
    service: str
    app: str
    ref: SourceRef


@dataclass(frozen=True)
class SubscriberDef:
    """``Subscriber("fraud")`` in an app's handlers, and the ``ready()`` that loads them."""

    service: str
    app: str
    ref: SourceRef
    ready: SourceRef | None  # None: no AppConfig.ready() imports this module
    events: tuple[str, ...]  # event names subscribed with a literal (others are computed at import)

    @property
    def queue(self) -> str:
        return f"{self.service}.events"


def contracts(root: Path | None = None) -> list[ContractDef]:
    """Every ``@command(...)``/``@event(...)`` (and ``command(name)(Schema)`` in a literal loop)."""
    base = resolve_root(root)
    found: list[ContractDef] = []
    for app in apps(base):
        for file in code_files(base, app):
            source = parsed(file)
            path = relative(base, file)
            for call in (c for c in source.calls if _call_name(c) in CONTRACT_DECORATORS):
                parent_of = source.parents
                kind = CONTRACT_DECORATORS[_call_name(call)]
                version = _int_keyword(call, "version", default=1)
                owner = parent_of.get(call)
                decorated = owner if isinstance(owner, ast.ClassDef) and call in owner.decorator_list else None
                for name, node in _literal_arguments(call, parent_of):
                    where = decorated or node
                    why = f"declares the {kind.value} {name} (v{version})"
                    found.append(ContractDef(name, kind, version, span(path, where, why)))
    return sorted(found, key=lambda c: (c.name, c.version))


def kinds(root: Path | None = None) -> dict[str, Kind]:
    """Message name -> its kind, as the contracts declare it."""
    return {c.name: c.kind for c in contracts(root)}


def command_handlers(root: Path | None = None) -> list[CommandHandlerDef]:
    base = resolve_root(root)
    found = []
    for app in apps(base):
        for file in code_files(base, app):
            source = parsed(file)
            strings = _module_strings(source.tree)
            for node in source.functions:
                for decorator in node.decorator_list:
                    if not (isinstance(decorator, ast.Call) and _call_name(decorator) == "command_handler"):
                        continue
                    name, service = _first_literal(decorator, strings), _str_keyword(decorator, "service", strings)
                    if name and service:
                        why = f"{service} handles the command {name}"
                        found.append(CommandHandlerDef(name, service, app, span(relative(base, file), node, why)))
    return sorted(found, key=lambda h: h.name)


def handler_services(root: Path | None = None) -> dict[str, str]:
    """Command name -> the service that handles it."""
    return {h.name: h.service for h in command_handlers(root)}


def subscribers(root: Path | None = None) -> list[SubscriberDef]:
    base = resolve_root(root)
    found = []
    for app in apps(base):
        for file in code_files(base, app):
            source = parsed(file)
            path = relative(base, file)
            strings = _module_strings(source.tree)
            for node in source.tree.body:
                if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
                    continue
                if _call_name(node.value) != "Subscriber" or not isinstance(node.targets[0], ast.Name):
                    continue
                service = _first_literal(node.value, strings)
                if not service:
                    continue
                variable = node.targets[0].id
                module = path.removesuffix(".py").replace("/", ".")
                found.append(
                    SubscriberDef(
                        service=service,
                        app=app,
                        ref=span(path, node, f"{app} subscribes as {service}, on its own queue {service}.events"),
                        ready=_ready_importing(base, app, module),
                        events=tuple(sorted(set(_subscribed_events(source, variable)))),
                    )
                )
    return sorted(found, key=lambda s: s.service)


def _ready_importing(root: Path, app: str, module: str) -> SourceRef | None:
    """The ``ready()`` in ``app/apps.py`` that imports ``module``, if any."""
    file = root / app / "apps.py"
    if not file.is_file():
        return None
    for node in parsed(file).functions:
        if node.name == "ready" and any(ref.module == module for ref in imports_in(node)):
            return span(f"{app}/apps.py", node, f"{app}'s AppConfig.ready() loads {module}: it subscribes itself")
    return None


def _subscribed_events(source: Parsed, variable: str) -> Iterator[str]:
    for call in source.calls:
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "on" and getattr(func.value, "id", "") == variable:
            yield from (name for name, _ in _literal_arguments(call, source.parents))


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _module_strings(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "literal"`` assignments, e.g. ``SERVICE = "fraud"``."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            out.update({t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)})
    return out


def _literal(node: ast.AST, strings: dict[str, str]) -> str:
    """A string literal, or a module-level constant holding one; "" for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return strings.get(node.id, "")
    return ""


def _first_literal(call: ast.Call, strings: dict[str, str]) -> str:
    return _literal(call.args[0], strings) if call.args else ""


def _str_keyword(call: ast.Call, name: str, strings: dict[str, str]) -> str:
    return next((_literal(k.value, strings) for k in call.keywords if k.arg == name), "")


def _int_keyword(call: ast.Call, name: str, *, default: int) -> int:
    for keyword in call.keywords:
        if keyword.arg == name and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, int):
            return keyword.value.value
    return default


def _literal_arguments(call: ast.Call, parent_of: dict[ast.AST, ast.AST]) -> Iterator[tuple[str, ast.AST]]:
    """The string(s) a call's first argument can be: a literal, or the variable of an enclosing
    ``for x in ("a", "b")`` loop over literals. Anything else is not knowable from the source."""
    if not call.args:
        return
    argument = call.args[0]
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        yield argument.value, argument
        return
    if not isinstance(argument, ast.Name):
        return
    node: ast.AST = call
    while node in parent_of:
        node = parent_of[node]
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name) and node.target.id == argument.id:
            if isinstance(node.iter, ast.Tuple | ast.List):
                for element in node.iter.elts:
                    if isinstance(element, ast.Constant) and isinstance(element.value, str):
                        yield element.value, element
            return


def upcasters(root: Path | None = None) -> list[SourceRef]:
    """Every ``@upcaster(name, from_version=N)``: old event versions that must stay readable."""
    base = resolve_root(root)
    found = []
    for app in apps(base):
        for file in code_files(base, app):
            source = parsed(file)
            for node in source.functions:
                for decorator in node.decorator_list:
                    if isinstance(decorator, ast.Call) and _call_name(decorator) == "upcaster":
                        name = _first_literal(decorator, _module_strings(source.tree))
                        version = _int_keyword(decorator, "from_version", default=1)
                        why = f"upcasts stored {name} v{version} events to v{version + 1}"
                        found.append(span(relative(base, file), node, why))
    return found
