"""Who knows whom. In event mode the order service names none of its consumers; in command mode
exactly one orders module does. Subscribers wire themselves in from their own AppConfig.ready().

The analysis is lesson.evidence's (the same that fills the comparison tables); these tests hold the
code to it, and cross-check it against the runtime registries.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from django.apps import apps

from lesson.evidence import coupling, declarations
from lesson.evidence.imports import app_dependencies, import_graph, imports_in, top_level_imports
from lesson.evidence.sources import REPO_ROOT, parse, parsed, python_files
from messaging.kernel import subscriptions
from messaging.kernel.routing import command_queues

ROOT = REPO_ROOT
SUBSCRIBER_APPS = ("inventory", "payments", "analytics", "fraud", "notifications", "readmodel")
#: app -> the service name it subscribes as (its queue is <service>.events)
SUBSCRIBER_SERVICES = {
    "inventory": "inventory",
    "payments": "payments",
    "analytics": "analytics",
    "fraud": "fraud",
    "notifications": "notifications",
    "readmodel": "projector",
}
SERVICE_APPS = ("orders", *SUBSCRIBER_APPS)
#: Other services' command queues, the names a command-mode producer has to know.
OTHER_SERVICES_COMMANDS = frozenset(name for name in command_queues() if not name.startswith("orders."))


def files_of(package: str) -> list[Path]:
    files = python_files(ROOT, package)
    assert files, f"no python files under {package}/"
    return files


def string_constants(path: Path) -> set[str]:
    return {value for value, _ in parsed(path).strings}


def test_the_import_scanner_sees_imports_at_every_depth() -> None:
    tree = ast.parse(
        "import fraud\nfrom inventory.services import x\ndef f():\n    from analytics import y\n"
        "    importlib.import_module('notifications.handlers')\nfrom . import z\n"
    )
    assert {ref.top for ref in imports_in(tree)} == {"fraud", "inventory", "analytics", "notifications"}


@pytest.mark.parametrize("path", files_of("orders"), ids=lambda p: str(p.relative_to(ROOT)))
def test_orders_imports_no_subscriber_app(path: Path) -> None:
    assert top_level_imports(path).isdisjoint(SUBSCRIBER_APPS), f"{path.relative_to(ROOT)} imports a subscriber"


def test_the_import_graph_has_no_edge_from_orders_to_a_subscriber() -> None:
    edges = [e for e in import_graph() if e.source_app == "orders"]
    assert edges, "orders imports shop and catalog at least"
    assert {e.target_app for e in edges}.isdisjoint(SUBSCRIBER_APPS)
    assert set(app_dependencies()["orders"]) <= {"messaging", "contracts", "core", "catalog"}


def test_only_commanding_names_other_services_commands() -> None:
    naming: dict[str, set[str]] = {}
    for ref in coupling.consumer_references():
        if ref.kind == "command":
            naming.setdefault(ref.module, set()).add(ref.name)
    assert naming == {"orders/flows/commanding.py": OTHER_SERVICES_COMMANDS}


def test_the_static_consumers_are_the_runtime_handlers() -> None:
    """What the AST says each service handles is what the running registry routes to it."""
    from messaging.kernel.subscriptions import COMMAND_HANDLERS

    handlers = declarations.command_handlers()
    for handler in handlers:  # what a worker imports (Celery's autodiscovery of tasks.py)
        importlib.import_module(handler.ref.path.removesuffix(".py").replace("/", "."))
    assert {h.name: h.service for h in handlers} == COMMAND_HANDLERS
    assert {name for c in coupling.consumers().values() for name in c.commands} == OTHER_SERVICES_COMMANDS


def test_eventing_names_no_consumer_at_all() -> None:
    path = ROOT / "orders" / "flows" / "eventing.py"
    text = path.read_text(encoding="utf-8")
    for name in sorted(OTHER_SERVICES_COMMANDS):
        assert name not in text, f"eventing.py mentions {name!r}"
    # It states facts only: every message name it uses is an order event.
    names = {s for s in string_constants(path) if s.count(".") == 1 and " " not in s}
    assert names == {
        "order.placed",
        "order.confirmed",
        "order.cancelled",
        "order.held",
        "order.authorized",
        "order.released",
    }
    assert top_level_imports(path) <= {"__future__", "typing", "django", "orders", "messaging", "contracts", "core"}
    assert coupling.references_by_mode()["event"] == []


@pytest.mark.parametrize("package", ["messaging", "contracts", "core"])
def test_the_messaging_core_imports_no_service_app(package: str) -> None:
    for path in files_of(package):
        imports = top_level_imports(path)
        assert imports.isdisjoint({*SERVICE_APPS, "catalog"}), f"{path.relative_to(ROOT)} imports {imports}"


@pytest.mark.parametrize("app", SUBSCRIBER_APPS)
def test_subscriber_apps_import_no_other_service_app(app: str) -> None:
    others = set(SERVICE_APPS) - {app}
    for path in files_of(app):
        assert top_level_imports(path).isdisjoint(others), f"{path.relative_to(ROOT)} imports another service"


EXPECTED_SUBSCRIPTIONS = {
    "order.placed": {"inventory", "payments", "fraud"},
    "order.cancelled": {"inventory", "payments", "notifications"},
    "order.confirmed": {"analytics", "notifications"},
    "inventory.reserved": {"payments"},
    "inventory.reservation_failed": {"orders"},
    "payment.authorized": {"orders"},
    "payment.declined": {"orders"},
    "order.flagged": {"orders"},
}


def test_the_subscription_table_lists_every_service_for_its_events() -> None:
    table = subscriptions.table()
    for event_type, services in EXPECTED_SUBSCRIPTIONS.items():
        assert services <= set(table.get(event_type, [])), event_type
    assert set(subscriptions.services()) >= {*SUBSCRIBER_SERVICES.values(), "orders"}


def test_the_static_subscriptions_agree_with_the_registry() -> None:
    """Every event a subscriber names with a literal is in the runtime table for that service."""
    table = subscriptions.table()
    for subscriber in declarations.subscribers():
        for event_type in subscriber.events:
            assert subscriber.service in table.get(event_type, []), (subscriber.service, event_type)


def test_analytics_ignores_cancellations_like_the_lesson() -> None:
    assert "analytics" not in subscriptions.table().get("order.cancelled", [])


@pytest.mark.parametrize("app", [*SUBSCRIBER_APPS, "orders"])
def test_each_service_registers_its_subscriptions_from_its_own_ready(app: str) -> None:
    service = SUBSCRIBER_SERVICES.get(app, app)
    # Every handler it subscribes with lives in its own app...
    registered = [
        sub for event_type in subscriptions.table() for sub in subscriptions.subscriptions_for(service, event_type)
    ]
    assert registered, f"{service} subscribes to nothing"
    for sub in registered:
        assert sub.handler.__module__ == f"{app}.handlers", sub.handler_name
    # ...and its AppConfig.ready() is what imports that module.
    config = apps.get_app_config(app)
    assert type(config).__module__ == f"{app}.apps"
    [subscriber] = [s for s in declarations.subscribers() if s.service == service]
    assert subscriber.app == app and subscriber.ref.path == f"{app}/handlers.py"
    assert subscriber.ready is not None, f"{app}/apps.py has no ready() importing {app}.handlers"
    assert subscriber.ready.path == f"{app}/apps.py"
    readies = [
        n for n in ast.walk(parse(ROOT / app / "apps.py")) if isinstance(n, ast.FunctionDef) and n.name == "ready"
    ]
    assert len(readies) == 1


def test_no_one_else_registers_a_subscriber() -> None:
    """Subscriber(...) is created only in each service's own handlers.py (the runtime check above
    ties each registered service's handlers to that module)."""
    creating: set[str] = set()
    for package in ("shop", "core", "messaging", "contracts", "api", "lesson", *SERVICE_APPS, "catalog"):
        for path in files_of(package):
            for call in parsed(path).calls:
                if getattr(call.func, "id", getattr(call.func, "attr", "")) == "Subscriber":
                    creating.add(str(path.relative_to(ROOT)))
    assert creating == {f"{service}/handlers.py" for service in (*SUBSCRIBER_APPS, "orders")}
    assert {s.ref.path for s in declarations.subscribers()} == creating


def test_a_command_is_named_by_its_contract_its_producer_and_its_consumer_only() -> None:
    """Across the whole product (the lesson aside: it names everything to teach it), a command's
    name appears in its contract (contracts/), its consumer's app and the orders app that sends
    it, and nowhere else: no list in the messaging core has to learn about a new consumer."""
    product = [p for p in sorted(ROOT.glob("*/__init__.py")) if p.parent.name not in {"tests", "bench", "lesson"}]
    for config in apps.get_app_configs():  # what a worker imports (Celery's autodiscovery of tasks.py)
        if (Path(config.path) / "tasks.py").exists():
            importlib.import_module(f"{config.name}.tasks")
    handlers = subscriptions.COMMAND_HANDLERS
    assert set(handlers) == set(command_queues()), "every command has its handler registered"
    named: dict[str, set[str]] = {}
    for init in product:
        for path in python_files(ROOT, init.parent.name):
            if "migrations" in path.parts:
                continue  # history: a data migration rewrites stored messages by name
            for name in string_constants(path) & set(handlers):
                named.setdefault(name, set()).add(init.parent.name)
    assert set(named) == set(handlers), "the scan finds every command somewhere"
    for name, packages in sorted(named.items()):
        allowed = {"contracts", "orders", handlers[name]}  # a command's service is its app's name
        assert packages <= allowed, f"{name!r} is named in {sorted(packages - allowed)} as well"
