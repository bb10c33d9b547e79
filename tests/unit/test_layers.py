"""The three floors, read from the code's own imports (``ast``), not from what the docs say.

- No import cycle among the product's modules, whatever the depth of the import: a cycle that
  works today only works because of the order in which modules happen to load.
- The teaching layer (``lesson``) is the roof: nothing else imports it.
- The messaging kernel imports neither Celery nor kombu; the services import only the kernel of
  ``messaging`` (not its Celery adapter, its operations or the composition root).
- A project module is imported inside a function only in an ``AppConfig.ready()``, where Django's
  app loading requires it (the models must be loaded first).

Imports under ``if TYPE_CHECKING:`` are not run, so they are not edges.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Top-level folders that are not the product.
NOT_PRODUCT = {"tests", "bench"}
SERVICES = ["orders", "inventory", "payments", "fraud", "notifications", "analytics", "readmodel", "catalog"]


def product_packages(root: Path = ROOT) -> list[str]:
    return sorted(p.parent.name for p in root.glob("*/__init__.py") if p.parent.name not in NOT_PRODUCT)


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def product_modules(root: Path = ROOT) -> dict[str, Path]:
    """Every product module by dotted name (migrations included: they import code too)."""
    return {
        module_name(root, path): path
        for package in product_packages(root)
        for path in sorted((root / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


@dataclass(frozen=True)
class Import:
    module: str  # the product module imported, resolved to a module that exists
    line: int
    in_function: str | None  # the enclosing function's name, if any


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """``name`` or the nearest enclosing module that exists (``a.b.func`` -> ``a.b``)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(path: Path, modules: dict[str, Path], root: Path = ROOT) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    this = module_name(root, path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    enclosing: dict[ast.AST, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for child in ast.walk(node):
                if child is not node:
                    enclosing.setdefault(child, node.name)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom) or node.lineno in skip:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names = [f"{base}.{alias.name}" for alias in node.names] or [base]
        for name in names:
            target = _resolve(name, modules)
            if target is not None and target != this:
                yield Import(target, node.lineno, enclosing.get(node))


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the product modules it imports; importing ``a.b.c`` also runs ``a`` and ``a.b``."""
    modules = product_modules(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for imported in imports_of(path, modules, root):
            parts = imported.module.split(".")
            for depth in range(1, len(parts) + 1):
                target = ".".join(parts[:depth])
                if target in modules and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


# --- the checks ---------------------------------------------------------------------------------


def test_the_graph_is_read() -> None:
    """Guards the checks below: an empty graph would pass every one of them."""
    graph = import_graph()
    assert "messaging.kernel.consuming" in graph["messaging.celery_adapter.worker"]
    assert "core.models" in graph["messaging.kernel.consuming"]
    assert len(graph) > 150


def test_there_is_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_check_finds_a_cycle(tmp_path: Path) -> None:
    """The check above can fail: two modules importing each other are found, even inside a function."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("from pkg import b\n")
    (tmp_path / "pkg" / "b.py").write_text("def later():\n    from pkg.a import thing\n")
    assert find_cycle(import_graph(tmp_path)) == ["pkg.a", "pkg.b", "pkg.a"]


def test_nothing_below_the_lesson_imports_it() -> None:
    offenders = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        if not module.startswith("lesson")
        for target in targets
        if target == "lesson" or target.startswith("lesson.")
    )
    assert not offenders, offenders


def test_the_kernel_imports_no_celery_and_no_kombu() -> None:
    kernel = ROOT / "messaging" / "kernel"
    found = []
    for path in sorted(kernel.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names if n.split(".")[0] in {"celery", "kombu"}
            ]
    assert not found, found


def test_nor_does_it_reach_them_through_the_project() -> None:
    """What the kernel imports of the project (the models, the logs) imports no adapter either."""
    graph = import_graph()
    seen: set[str] = set()
    todo = [m for m in graph if m.startswith("messaging.kernel")]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph[module])
    above = sorted(
        m
        for m in seen
        if m.startswith(("messaging.celery_adapter", "messaging.operations", "messaging.bootstrap", "shop"))
    )
    assert not above, above


@pytest.mark.parametrize("service", SERVICES)
def test_services_use_only_the_messaging_kernel(service: str) -> None:
    graph = import_graph()
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if module == service or module.startswith(service + ".")
        for target in targets
        if target.startswith("messaging.") and not target.startswith("messaging.kernel")
    )
    assert not wrong, wrong


def test_project_imports_inside_functions_only_where_django_requires_them() -> None:
    modules = product_modules()
    found = sorted(
        f"{path.relative_to(ROOT)}:{imported.line} {imported.module} (in {imported.in_function})"
        for path in modules.values()
        for imported in imports_of(path, modules)
        if imported.in_function is not None and imported.in_function != "ready"
    )
    assert not found, found


#: The longest a product module may be (the test suite's helpers too: tests/faults is read like code).
MAX_LINES = 400


def test_modules_stay_small() -> None:
    paths = [*product_modules().values(), *sorted((ROOT / "tests" / "faults").glob("*.py"))]
    long = sorted(f"{p.relative_to(ROOT)}: {n}" for p in paths if (n := len(p.read_text().splitlines())) > MAX_LINES)
    assert not long, long
