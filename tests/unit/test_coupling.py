"""Who knows whom. In event mode the order service names none of its consumers; in command mode
exactly one orders module does. Subscribers wire themselves in from their own AppConfig.ready()."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.apps import apps

from shop.messaging import subscriptions
from shop.messaging.settings import COMMAND_QUEUES

ROOT = Path(__file__).resolve().parents[2]
SUBSCRIBER_APPS = ("inventory", "analytics", "fraud", "notifications", "readmodel")
#: app -> the service name it subscribes as (its queue is <service>.events)
SUBSCRIBER_SERVICES = {
    "inventory": "inventory",
    "analytics": "analytics",
    "fraud": "fraud",
    "notifications": "notifications",
    "readmodel": "projector",
}
SERVICE_APPS = ("orders", *SUBSCRIBER_APPS)
#: Other services' command queues, the names a command-mode producer has to know.
OTHER_SERVICES_COMMANDS = frozenset(name for name in COMMAND_QUEUES if not name.startswith("orders."))


def python_files(package: str) -> list[Path]:
    files = sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)
    assert files, f"no python files under {package}/"
    return files


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported_modules(tree: ast.Module) -> Iterator[str]:
    """Every module an import statement names, at any depth, plus import_module('...') / __import__('...')."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                continue  # relative: inside the same package
            assert node.module is not None
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in {"import_module", "__import__"} and node.args and isinstance(node.args[0], ast.Constant):
                yield str(node.args[0].value)


def top_level_imports(path: Path) -> set[str]:
    return {name.split(".", 1)[0] for name in imported_modules(parse(path))}


def string_constants(tree: ast.Module) -> set[str]:
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_the_import_scanner_sees_imports_at_every_depth() -> None:
    tree = ast.parse(
        "import fraud\nfrom inventory.services import x\ndef f():\n    from analytics import y\n"
        "    importlib.import_module('notifications.handlers')\nfrom . import z\n"
    )
    assert {m.split(".")[0] for m in imported_modules(tree)} == {"fraud", "inventory", "analytics", "notifications"}


@pytest.mark.parametrize("path", python_files("orders"), ids=lambda p: str(p.relative_to(ROOT)))
def test_orders_imports_no_subscriber_app(path: Path) -> None:
    assert top_level_imports(path).isdisjoint(SUBSCRIBER_APPS), f"{path.relative_to(ROOT)} imports a subscriber"


def test_only_commanding_names_other_services_commands() -> None:
    naming = {}
    for path in python_files("orders"):
        found = string_constants(parse(path)) & OTHER_SERVICES_COMMANDS
        if found:
            naming[str(path.relative_to(ROOT))] = found
    assert naming == {"orders/flows/commanding.py": OTHER_SERVICES_COMMANDS}


def test_eventing_names_no_consumer_at_all() -> None:
    path = ROOT / "orders" / "flows" / "eventing.py"
    text = path.read_text(encoding="utf-8")
    for name in sorted(OTHER_SERVICES_COMMANDS):
        assert name not in text, f"eventing.py mentions {name!r}"
    # It states facts only: every message name it uses is an order event.
    names = {s for s in string_constants(parse(path)) if s.count(".") == 1 and " " not in s}
    assert names == {"order.placed", "order.confirmed", "order.cancelled", "order.held"}
    assert top_level_imports(path) <= {"__future__", "typing", "django", "orders", "shop"}


@pytest.mark.parametrize("package", ["shop/messaging", "shop/contracts"])
def test_the_messaging_core_imports_no_service_app(package: str) -> None:
    for path in python_files(package):
        imports = top_level_imports(path)
        assert imports.isdisjoint({*SERVICE_APPS, "catalog"}), f"{path.relative_to(ROOT)} imports {imports}"


@pytest.mark.parametrize("app", SUBSCRIBER_APPS)
def test_subscriber_apps_import_no_other_service_app(app: str) -> None:
    others = set(SERVICE_APPS) - {app}
    for path in python_files(app):
        assert top_level_imports(path).isdisjoint(others), f"{path.relative_to(ROOT)} imports another service"


EXPECTED_SUBSCRIPTIONS = {
    "order.placed": {"inventory", "fraud"},
    "order.cancelled": {"inventory", "notifications"},
    "order.confirmed": {"analytics", "notifications"},
    "inventory.reserved": {"orders"},
    "inventory.reservation_failed": {"orders"},
    "order.flagged": {"orders"},
}


def test_the_subscription_table_lists_every_service_for_its_events() -> None:
    table = subscriptions.table()
    for event_type, services in EXPECTED_SUBSCRIPTIONS.items():
        assert services <= set(table.get(event_type, [])), event_type
    assert set(subscriptions.services()) >= {*SUBSCRIBER_SERVICES.values(), "orders"}


def test_analytics_ignores_cancellations_like_the_lesson() -> None:
    assert "analytics" not in subscriptions.table().get("order.cancelled", [])


@pytest.mark.parametrize("service", [*SUBSCRIBER_APPS, "orders"])
def test_each_service_registers_its_subscriptions_from_its_own_ready(service: str) -> None:
    # Every handler it subscribes with lives in its own app...
    for event_type in subscriptions.table():
        for sub in subscriptions.subscriptions_for(service, event_type):
            assert sub.handler.__module__ == f"{service}.handlers", sub.handler_name
    # ...and its AppConfig.ready() is what imports that module.
    config = apps.get_app_config(service)
    assert type(config).__module__ == f"{service}.apps"
    tree = parse(ROOT / service / "apps.py")
    readies = [
        node
        for cls in tree.body
        if isinstance(cls, ast.ClassDef) and cls.name == type(config).__name__
        for node in cls.body
        if isinstance(node, ast.FunctionDef) and node.name == "ready"
    ]
    assert len(readies) == 1, f"{service}/apps.py has no ready()"
    imported = set(imported_modules(ast.Module(body=readies[0].body, type_ignores=[])))
    assert f"{service}.handlers" in imported


def test_no_one_else_registers_a_subscriber() -> None:
    """Subscriber(...) is created only in each service's own handlers.py (the runtime check above
    ties each registered service's handlers to that module)."""
    creating: set[str] = set()
    for package in ("shop", *SERVICE_APPS, "catalog"):
        for path in python_files(package):
            for node in ast.walk(parse(path)):
                if (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Subscriber"
                ):
                    creating.add(str(path.relative_to(ROOT)))
    assert creating == {f"{service}/handlers.py" for service in (*SUBSCRIBER_APPS, "orders")}
