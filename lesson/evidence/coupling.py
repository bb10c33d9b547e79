"""Which consumers the producer (the order service) names, per mode, read from its source.

A producer module *names* a consumer when it imports the consumer's app, uses one of the
consumer's command names (a command belongs to the service whose ``@command_handler`` handles
it), or uses the consumer's queue name (``<service>.events``). Each reference carries the
statement it is in, so "the lines in commanding.py that name fraud" are a computed answer.

Which mode a module serves: ``orders/flows/commanding.py`` is command mode and
``orders/flows/eventing.py`` event mode (``orders.flows.FLOWS``); a module that declares
command handlers (orders' replies) serves command mode, one that creates a ``Subscriber``
serves event mode; every other module runs in both, so a reference there couples both modes.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lesson.evidence import declarations
from lesson.evidence.imports import imports_among
from lesson.evidence.model import SourceRef
from lesson.evidence.sources import (
    Parsed,
    enclosing_statement,
    parsed,
    python_files,
    relative,
    resolve_root,
    span,
)

PRODUCER = "orders"
COMMAND, EVENT, BOTH = "command", "event", "both"
MODES = (COMMAND, EVENT)
#: The two flows, as orders/flows/__init__.py maps them (FLOWS).
FLOW_MODULES = {"orders/flows/commanding.py": COMMAND, "orders/flows/eventing.py": EVENT}
#: Keyword arguments of ``commands.send`` that name the sender's own reply commands.
REPLY_KEYWORDS = ("on_success", "on_failure")
#: The two ways a message leaves the producer (messaging/kernel/bus.py).
BUS_METHODS = {
    "send": "sends a command: one named consumer is told to do something",
    "publish": "publishes an event: a fact, to whoever subscribes",
}


@dataclass(frozen=True)
class Consumer:
    """A service other than the producer that handles commands or subscribes to events."""

    service: str
    app: str
    commands: tuple[str, ...]
    queue: str | None  # its <service>.events queue, if it subscribes


@dataclass(frozen=True)
class ConsumerRef:
    """One place where a producer module names a consumer."""

    module: str  # path, e.g. "orders/flows/commanding.py"
    mode: str  # "command", "event" or "both"
    service: str  # the consumer named
    via: str  # "command fraud.check", "import fraud", "queue fraud.events"
    ref: SourceRef
    #: The return addresses the statement gives, e.g. (("on_failure", "orders.reject"),): the
    #: producer's own commands it asks the consumer to send back.
    replies: tuple[tuple[str, str], ...] = ()

    @property
    def kind(self) -> str:
        """How it names the consumer: "import", "command" or "queue"."""
        return self.via.split(" ", 1)[0]

    @property
    def name(self) -> str:
        """The app, command or queue it names."""
        return self.via.split(" ", 1)[1]

    @property
    def on_failure(self) -> str | None:
        return dict(self.replies).get("on_failure")


def consumers(root: Path | None = None, producer: str = PRODUCER) -> dict[str, Consumer]:
    """Service -> what identifies it in code: its app, its command names, its queue."""
    base = resolve_root(root)
    apps: dict[str, str] = {}
    commands: dict[str, list[str]] = {}
    queues: dict[str, str] = {}
    for handler in declarations.command_handlers(base):
        apps.setdefault(handler.service, handler.app)
        commands.setdefault(handler.service, []).append(handler.name)
    for subscriber in declarations.subscribers(base):
        apps.setdefault(subscriber.service, subscriber.app)
        queues[subscriber.service] = subscriber.queue
    return {
        service: Consumer(service, app, tuple(sorted(commands.get(service, []))), queues.get(service))
        for service, app in sorted(apps.items())
        if service != producer and app != producer
    }


def module_mode(path: str, source: Parsed) -> str:
    if path in FLOW_MODULES:
        return FLOW_MODULES[path]
    called = {_called(node) for node in source.calls}
    if "command_handler" in called:
        return COMMAND
    if "Subscriber" in called:
        return EVENT
    return BOTH


def consumer_references(root: Path | None = None, producer: str = PRODUCER) -> list[ConsumerRef]:
    """Every place a module of ``producer`` names a consumer, in file and line order."""
    base = resolve_root(root)
    known = consumers(base, producer)
    by_app: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    for consumer in known.values():
        by_app.setdefault(consumer.app, []).append(consumer.service)
        by_name.update(dict.fromkeys(consumer.commands, consumer.service))
        if consumer.queue:
            by_name[consumer.queue] = consumer.service
    found: list[ConsumerRef] = []
    for file in python_files(base, producer):  # migrations too: an import there is coupling as well
        path = relative(base, file)
        source = parsed(file)
        mode = module_mode(path, source)
        found += _imports(path, mode, source, by_app)
        found += _names(path, mode, source, by_name, known)
    return sorted(found, key=lambda r: (r.module, r.ref.line, r.service, r.via))


def references_by_mode(root: Path | None = None, producer: str = PRODUCER) -> dict[str, list[ConsumerRef]]:
    """Mode -> the references that mode runs: its own modules' and those of the shared modules."""
    refs = consumer_references(root, producer)
    return {mode: [r for r in refs if r.mode in (mode, BOTH)] for mode in MODES}


def named_services(refs: Iterable[ConsumerRef]) -> list[str]:
    return sorted({r.service for r in refs})


def lines_for(service: str, mode: str, root: Path | None = None) -> list[SourceRef]:
    """The producer's lines that exist for ``service`` in ``mode``: every statement naming it,
    plus (command mode) the handlers of the replies only that service's commands ask for.

    This is what adding (or removing) that consumer costs the producer in that mode."""
    base = resolve_root(root)
    return producer_lines(service, references_by_mode(base)[mode], declarations.command_handlers(base))


def producer_lines(
    service: str, refs: Sequence[ConsumerRef], handlers: Sequence[declarations.CommandHandlerDef]
) -> list[SourceRef]:
    """``lines_for`` from references and handlers already gathered."""
    mine = [r for r in refs if r.service == service]
    lines = [r.ref for r in mine]
    others = {reply for r in refs if r.service != service for _, reply in r.replies}
    only_mine = sorted({reply for r in mine for _, reply in r.replies} - others)
    by_name = {h.name: h for h in handlers if h.app == PRODUCER}
    for reply in only_mine:
        handler = by_name.get(reply)
        if handler is not None:
            why = f"handles {reply}, the reply only {service}'s command asks for"
            lines.append(SourceRef(handler.ref.path, handler.ref.line, handler.ref.end_line, why))
    return lines


def _imports(path: str, mode: str, source: Parsed, by_app: dict[str, list[str]]) -> list[ConsumerRef]:
    out, seen = [], set()
    for ref in imports_among(source.nodes):
        for service in by_app.get(ref.top, []):
            if (ref.line, service) in seen:
                continue
            seen.add((ref.line, service))
            why = f"imports {ref.module}: the producer depends on the {service} app"
            out.append(
                ConsumerRef(path, mode, service, f"import {ref.top}", SourceRef(path, ref.line, ref.end_line, why))
            )
    return out


def _names(
    path: str, mode: str, source: Parsed, by_name: dict[str, str], known: dict[str, Consumer]
) -> list[ConsumerRef]:
    out = []
    for value, constant in source.strings:
        service = by_name.get(value)
        if service is None:
            continue
        parent_of = source.parents
        statement = enclosing_statement(constant, parent_of)
        kind = "queue" if value == known[service].queue else "command"
        why = f"names {service}'s {kind} {value}"
        replies = _replies(constant, parent_of)
        out.append(ConsumerRef(path, mode, service, f"{kind} {value}", span(path, statement, why), replies))
    return out


def _replies(constant: ast.Constant, parent_of: dict[ast.AST, ast.AST]) -> tuple[tuple[str, str], ...]:
    """The return address given with the command name ``constant``: the ``on_success=`` /
    ``on_failure=`` literals of the call it is a positional argument of (``send("x", ...,
    on_failure=...)``, a saga plan row), or, for a keyword argument such as ``undo="x"``, the
    call's ``undo_on_success=`` / ``undo_on_failure=`` literals."""
    parent = parent_of.get(constant)
    if isinstance(parent, ast.keyword) and parent.arg:
        call, prefix = parent_of.get(parent), f"{parent.arg}_"
    elif isinstance(parent, ast.Call) and any(arg is constant for arg in parent.args):
        call, prefix = parent, ""
    else:
        return ()
    if not isinstance(call, ast.Call):
        return ()
    wanted = {prefix + keyword for keyword in REPLY_KEYWORDS}
    return tuple(
        (str(keyword.arg).removeprefix(prefix), str(keyword.value.value))
        for keyword in call.keywords
        if keyword.arg in wanted and isinstance(keyword.value, ast.Constant)
    )


def _called(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def return_addresses(path: str, root: Path | None = None) -> list[tuple[str, str, SourceRef]]:
    """Every ``on_success=``/``on_failure=`` literal in ``path``: (keyword, reply command, statement)."""
    base = resolve_root(root)
    file = base / path
    if not file.is_file():
        return []
    source = parsed(file)
    out = []
    for node in source.nodes:
        if not (isinstance(node, ast.keyword) and node.arg in REPLY_KEYWORDS and isinstance(node.value, ast.Constant)):
            continue
        keyword, reply = str(node.arg), str(node.value.value)
        statement = enclosing_statement(node.value, source.parents)
        why = f"asks for {reply} on {keyword.removeprefix('on_')}: the sender hears the outcome"
        out.append((keyword, reply, span(path, statement, why)))
    return out


def bus_calls(path: str, root: Path | None = None) -> list[tuple[str, SourceRef]]:
    """Every ``….send(`` and ``….publish(`` call in ``path``: how the module hands messages over."""
    base = resolve_root(root)
    file = base / path
    if not file.is_file():
        return []
    out = []
    for node in parsed(file).calls:
        if isinstance(node.func, ast.Attribute) and node.func.attr in BUS_METHODS:
            how = BUS_METHODS[node.func.attr]
            out.append((node.func.attr, span(path, node, how)))
    return sorted(out, key=lambda call: call[1].line)


def published_by(service: str, root: Path | None = None) -> list[str]:
    """The events ``service``'s app publishes (``….publish("name", …)`` with a literal name)."""
    base = resolve_root(root)
    consumer = consumers(base).get(service)
    if consumer is None:
        return []
    names = set()
    for file in python_files(base, consumer.app):
        for call in parsed(file).calls:
            if isinstance(call.func, ast.Attribute) and call.func.attr == "publish" and call.args:
                first = call.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names.add(first.value)
    return sorted(names)


def reactions_to(service: str, root: Path | None = None, producer: str = PRODUCER) -> list[SourceRef]:
    """The producer's event handlers for facts ``service`` publishes (orders holding an order on
    ``order.flagged``). They name a fact of the published language, not the service: without
    it they simply never run."""
    base = resolve_root(root)
    facts = set(published_by(service, base))
    out = []
    for file in python_files(base, producer):
        path = relative(base, file)
        for function in parsed(file).functions:
            for decorator in function.decorator_list:
                if not (isinstance(decorator, ast.Call) and _called(decorator) == "on" and decorator.args):
                    continue
                first = decorator.args[0]
                if isinstance(first, ast.Constant) and first.value in facts:
                    why = f"{producer} reacts to {first.value}, a fact {service} publishes (the fact, not {service})"
                    out.append(span(path, function, why))
    return out
