"""Celery's and kombu's internals under guard: an upgrade that reshapes one fails here, in CI.

``messaging/celery_adapter/internals.py`` names every private or undocumented part of Celery and
kombu the project relies on. This checks each entry against the installed versions (it exists,
it is still a method with the same parameters, the attribute is still set), checks that
pyproject.toml caps both below the next minor version nobody tested, and scans the product code
for a private Celery/kombu name used anywhere but there, so a new one cannot slip in unlisted.

The scan sees names that start with one underscore. Undocumented hooks with public-looking
names (``Consumer.create_task_handler``, ``strategies``, ...) cannot be told apart from public
API by their name: they are listed in the internals module by hand.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import celery
import kombu
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from messaging.celery_adapter.internals import INTERNALS, Internal

REPO = Path(__file__).resolve().parents[2]
INTERNALS_MODULE = "messaging/celery_adapter/internals.py"
UPSTREAM = ("celery", "kombu")
#: Not product code: tests, benchmarks, environments and generated files.
NOT_PRODUCT = {"tests", "bench", ".venv", "var", "build", "test-artifacts", "docs", "node_modules"}
#: Private names Celery or kombu also define but that the product code uses on Django's objects
#: (``Model._meta`` is Django's documented model API, ``instance._state`` its adding/db state).
#: Still reported on a name that resolves to a Celery or kombu object (``celery._state``).
DJANGO_NAMES = frozenset({"_meta", "_state"})
VERSIONS = f"celery {importlib.metadata.version('celery')} / kombu {importlib.metadata.version('kombu')}"


def _changed(entry: Internal, what: str) -> str:
    return (
        f"{VERSIONS} changed {entry.label} ({entry.kind}): {what}. {entry.used_by} relies on it "
        f"({entry.use}: {entry.why}). Re-check {entry.used_by} before raising the cap in pyproject.toml, "
        f"then update its entry in {INTERNALS_MODULE}."
    )


def _params(target: Any) -> list[str]:
    names = []
    for param in inspect.signature(target).parameters.values():
        if param.kind is param.VAR_POSITIONAL:
            names.append(f"*{param.name}")
        elif param.kind is param.VAR_KEYWORD:
            names.append(f"**{param.name}")
        else:
            names.append(param.name)
    return names[1:] if names[:1] == ["self"] else names


def _sets_on_self(cls: type, name: str) -> bool:
    """Whether a Celery/kombu class in ``cls``'s MRO assigns ``self.<name>`` in its source."""
    pattern = re.compile(rf"\bself\.{re.escape(name)}\s*(:[^=\n]*)?=(?!=)")
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] not in UPSTREAM:
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        if pattern.search(source):
            return True
    return False


@pytest.mark.parametrize("entry", INTERNALS, ids=lambda e: f"{e.label}")
def test_the_upstream_shape_is_what_the_project_relies_on(entry: Internal) -> None:
    check_shape(entry)


def check_shape(entry: Internal) -> None:
    if entry.kind == "instance attribute":
        assert isinstance(entry.owner, type), f"{entry.label}: an instance attribute needs a class as owner"
        assert _sets_on_self(entry.owner, entry.name), _changed(entry, f"no class sets self.{entry.name} any more")
        return
    assert hasattr(entry.owner, entry.name), _changed(entry, f"{entry.name!r} is gone")
    target = getattr(entry.owner, entry.name)
    if entry.kind in ("method", "function"):
        assert callable(target), _changed(entry, f"{entry.name!r} is no longer callable ({type(target).__name__})")
        found = _params(target)
        assert found == list(entry.params), _changed(entry, f"its parameters are {found}, not {list(entry.params)}")
    else:
        assert entry.kind == "class attribute", f"{entry.label}: unknown kind {entry.kind!r}"
        assert entry.params == (), f"{entry.label}: an attribute has no parameters"


class _Upstream:
    """Stands for a Celery/kombu class after an upgrade that reshaped it."""

    def _put(self, queue: str, message: Any, *, priority: int = 0) -> None: ...


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (Internal(_Upstream, "_lookup", "method", ("exchange",), "x.py", "call", "routing"), "'_lookup' is gone"),
        (
            Internal(_Upstream, "_put", "method", ("queue", "message", "**kwargs"), "x.py", "call", "push"),
            "its parameters are ['queue', 'message', 'priority'], not ['queue', 'message', '**kwargs']",
        ),
        (Internal(_Upstream, "strategies", "instance attribute", (), "x.py", "read", "tasks"), "self.strategies"),
    ],
)
def test_a_reshaped_internal_fails_with_what_to_do(entry: Internal, expected: str) -> None:
    with pytest.raises(AssertionError) as failure:
        check_shape(entry)
    message = str(failure.value)
    assert expected in message
    assert "Re-check x.py before raising the cap in pyproject.toml" in message


@pytest.mark.parametrize("entry", INTERNALS, ids=lambda e: f"{e.label}")
def test_each_entry_names_a_module_that_still_uses_it(entry: Internal) -> None:
    """No stale entry: the module exists, and an override is still defined there."""
    path = REPO / entry.used_by
    assert path.is_file(), f"{INTERNALS_MODULE}: {entry.label} is used by {entry.used_by}, which does not exist"
    assert entry.use in ("override", "call", "read"), f"{entry.label}: unknown use {entry.use!r}"
    if entry.use == "override":
        defined = _class_level_names(ast.parse(path.read_text()))
        assert entry.name in defined, (
            f"{INTERNALS_MODULE}: {entry.label} is listed as overridden in {entry.used_by}, which no longer "
            f"defines {entry.name!r}: remove or fix the entry"
        )


def _class_level_names(tree: ast.AST) -> set[str]:
    names = set()
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        for stmt in cls.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                names.add(stmt.name)
            elif isinstance(stmt, ast.Assign | ast.AnnAssign):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


# --- The cap in pyproject.toml ---------------------------------------------------------------


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    found = {}
    for line in project["dependencies"]:
        requirement = Requirement(line)
        found[requirement.name.lower()] = requirement
    return found


@pytest.mark.parametrize("package", UPSTREAM)
def test_pyproject_caps_celery_and_kombu_and_the_installed_version_is_inside(package: str) -> None:
    requirement = _requirements().get(package)
    assert requirement is not None, f"pyproject.toml does not require {package}"
    caps = [spec for spec in requirement.specifier if spec.operator in ("<", "<=", "==", "~=")]
    assert caps, (
        f"pyproject.toml requires {requirement}, with no upper bound: the project relies on {package} "
        f"internals ({INTERNALS_MODULE}); cap it below the next minor version not yet tested"
    )
    installed = Version(importlib.metadata.version(package))
    assert requirement.specifier.contains(installed, prereleases=True), (
        f"{package} {installed} is installed, outside pyproject.toml's {requirement}: run this test on it, "
        "then move the cap"
    )


# --- No private Celery/kombu name outside the internals module --------------------------------


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@cache
def upstream_private_names() -> frozenset[str]:
    """Every private name Celery and kombu define: methods, functions, class and self attributes."""
    names: set[str] = set()
    for package in (celery, kombu):
        for path in Path(package.__file__ or "").parent.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_bytes())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    names.add(node.name)
                elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                    names.add(node.attr)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
    return frozenset(n for n in names if _is_private(n))


def product_files() -> list[Path]:
    files = []
    for path in sorted(REPO.rglob("*.py")):
        parts = path.relative_to(REPO).parts
        if parts[0] in NOT_PRODUCT or "migrations" in parts or any(p.startswith(".") for p in parts):
            continue
        files.append(path)
    return files


@dataclass(frozen=True)
class Use:
    line: int
    name: str
    how: str  # "override", "super call in its override", "access", "import"

    def __str__(self) -> str:
        return f"line {self.line}: {self.how} {self.name}"


def _upstream_bindings(tree: ast.Module) -> dict[str, Any]:
    """Local name -> the object, for names imported from Celery, kombu or the internals module."""
    bound: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top = node.module.split(".")[0]
            if top in UPSTREAM or node.module == "messaging.celery_adapter.internals":
                module = importlib.import_module(node.module)
                for alias in node.names:
                    bound[alias.asname or alias.name] = _attribute_or_submodule(module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in UPSTREAM:
                    bound[alias.asname or alias.name.split(".")[0]] = importlib.import_module(alias.name.split(".")[0])
    return bound


def _attribute_or_submodule(module: Any, name: str) -> Any:
    if hasattr(module, name):
        return getattr(module, name)
    try:
        return importlib.import_module(f"{module.__name__}.{name}")
    except ImportError:
        return None


def _resolve(node: ast.expr, bound: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return bound.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, bound)
        return None if owner is None else getattr(owner, node.attr, None)
    return None


def _is_upstream(obj: Any) -> bool:
    module = obj.__name__ if inspect.ismodule(obj) else getattr(obj, "__module__", None)
    return isinstance(module, str) and module.split(".")[0] in UPSTREAM


def private_upstream_uses(source: str) -> Iterator[Use]:
    """Private Celery/kombu names a module uses: overrides in subclasses of their classes,
    attribute accesses (``x._name``, ``getattr(x, "_name")``) and imports of private names."""
    tree = ast.parse(source)
    upstream = upstream_private_names()
    bound = _upstream_bindings(tree)
    overrides: set[str] = set()
    override_defs: set[ast.AST] = set()
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        bases = [b for b in (_resolve(base, bound) for base in cls.bases) if isinstance(b, type)]
        for stmt in cls.body:
            names = []
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                names = [stmt.name]
            elif isinstance(stmt, ast.Assign | ast.AnnAssign):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
            for name in names:
                if _is_private(name) and any(hasattr(base, name) for base in bases):
                    overrides.add(name)
                    override_defs.add(stmt)
                    yield Use(stmt.lineno, name, "override")
    # What the module defines itself (not an override) is its own business.
    nodes = list(ast.walk(tree))
    own = {n.name for n in nodes if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    own |= {n.attr for n in nodes if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)}
    own |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    own -= overrides
    super_calls: set[ast.AST] = set()
    for func in (n for n in override_defs if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
        for node in ast.walk(func):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == func.name
                and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name)
                and node.value.func.id == "super"
            ):
                super_calls.add(node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            if node.attr in own or node.attr not in upstream:
                continue
            if node.attr in DJANGO_NAMES and not _is_upstream(_resolve(node.value, bound)):
                continue
            how = "super call in its override" if node in super_calls else "access"
            yield Use(node.lineno, f".{node.attr}", how)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) >= 2:
                arg = node.args[1]
                name = arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else ""
                if _is_private(name) and name in upstream and name not in own:
                    yield Use(node.lineno, f".{name}", f"{node.func.id}()")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in UPSTREAM:
            private = [a.name for a in node.names if _is_private(a.name)]
            if any(_is_private(part) for part in node.module.split(".")):
                private.append(node.module)
            for name in private:
                yield Use(node.lineno, name, "import")


def _allowed(relative: str, use: Use) -> bool:
    """A listed override (and its ``super()`` call) is allowed where the entry says; nothing else."""
    if use.how not in ("override", "super call in its override"):
        return False
    name = use.name.lstrip(".")
    return any(e.used_by == relative and e.name == name and e.use == "override" for e in INTERNALS)


def test_no_product_module_uses_a_private_celery_or_kombu_name_but_through_the_internals_module() -> None:
    problems = []
    for path in product_files():
        relative = str(path.relative_to(REPO))
        if relative == INTERNALS_MODULE:
            continue
        for use in private_upstream_uses(path.read_text()):
            if not _allowed(relative, use):
                problems.append(f"{relative} {use}")
    assert not problems, (
        "private Celery/kombu names used outside " + INTERNALS_MODULE + ":\n  " + "\n  ".join(problems) + "\n"
        "Call it through a helper there (and list it in INTERNALS, so tests check its shape), or list the "
        "override there, or use the public API."
    )


def test_the_scan_finds_what_it_must() -> None:
    """The scanner itself: accesses, getattr, private imports and unlisted overrides are found."""
    source = (
        "from kombu.transport import redis\n"
        "from kombu.transport.virtual.exchange import TopicExchange\n"
        "from celery.app.trace import _fast_trace_task\n"
        "class Channel(redis.Channel):\n"
        "    def _connparams(self, asynchronous=False):\n"
        "        return super()._connparams(asynchronous)\n"
        "    def _own_helper(self):\n"
        "        return self._own_helper\n"
        "class Exchange(TopicExchange):\n"
        "    def deliver(self, message, exchange, routing_key, **kwargs):\n"
        "        for queue in self.channel._lookup(exchange, routing_key):\n"
        "            getattr(self.channel, '_put')(queue, message)\n"
        "import celery\n"
        "app, meta = celery._state.get_current_app(), Exchange._meta\n"
    )
    found = {(u.line, u.name, u.how) for u in private_upstream_uses(source)}
    assert found == {
        (3, "_fast_trace_task", "import"),
        (5, "_connparams", "override"),
        (6, "._connparams", "super call in its override"),
        (11, "._lookup", "access"),
        (12, "._put", "getattr()"),
        (14, "._state", "access"),
    }
    assert _allowed("messaging/celery_adapter/redis_transport.py", Use(5, "_connparams", "override"))
    assert not _allowed("messaging/celery_adapter/transport.py", Use(5, "_connparams", "override"))
    assert not _allowed("messaging/celery_adapter/redis_transport.py", Use(11, "._lookup", "access"))


def test_the_scan_sees_the_product_code() -> None:
    relative = {str(p.relative_to(REPO)) for p in product_files()}
    assert {
        "messaging/celery_adapter/redis_transport.py",
        "messaging/operations/redelivery.py",
        "shop/celery.py",
        INTERNALS_MODULE,
    } <= relative
    assert not any(r.startswith(("tests/", "bench/", ".venv/")) for r in relative)
    # The internals module is the one place the names are used, so the scan finds them there.
    uses = {u.name for u in private_upstream_uses((REPO / INTERNALS_MODULE).read_text())}
    assert {"._lookup", "._put"} <= uses
