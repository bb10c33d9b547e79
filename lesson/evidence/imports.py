"""Which module imports which app: the app-level import graph, read from the syntax trees.

An import is found at any depth (inside functions too), and so is ``import_module("x")`` or
``__import__("x")`` with a literal name: hiding an import in a function does not hide coupling.
Relative imports stay inside their own package and are not edges.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lesson.evidence.model import SourceRef
from lesson.evidence.sources import apps, parsed, python_files, relative, resolve_root

DYNAMIC_IMPORTS = frozenset({"import_module", "__import__"})


@dataclass(frozen=True)
class ImportRef:
    """One module named by an import statement (or a dynamic import with a literal name)."""

    module: str  # e.g. "fraud.services"
    line: int
    end_line: int

    @property
    def top(self) -> str:
        return self.module.split(".", 1)[0]


@dataclass(frozen=True)
class ImportEdge:
    """A module of one app importing another app, with the line that does it."""

    source_app: str
    target_app: str
    module: str  # the module named, e.g. "catalog.models"
    ref: SourceRef


def imports_in(tree: ast.AST) -> Iterator[ImportRef]:
    """Every module an import names, at any depth; ``from a.b import c`` names ``a.b`` and ``a.b.c``."""
    return imports_among(ast.walk(tree))


def imports_among(nodes: Iterable[ast.AST]) -> Iterator[ImportRef]:
    for node in nodes:
        line: int = getattr(node, "lineno", 0)
        end: int = getattr(node, "end_lineno", None) or line
        if isinstance(node, ast.Import):
            yield from (ImportRef(alias.name, line, end) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level or node.module is None:
                continue  # relative: inside the same package
            yield ImportRef(node.module, line, end)
            yield from (ImportRef(f"{node.module}.{alias.name}", line, end) for alias in node.names)
        elif isinstance(node, ast.Call) and _dynamic_import(node):
            argument = node.args[0]
            assert isinstance(argument, ast.Constant)
            yield ImportRef(str(argument.value), line, end)


def top_level_imports(path: Path) -> set[str]:
    """The top-level packages a file imports."""
    return {ref.top for ref in imports_among(parsed(path).nodes)}


def import_graph(root: Path | None = None) -> list[ImportEdge]:
    """Every import of one app by a module of another app, one edge per statement and target."""
    base = resolve_root(root)
    known = set(apps(base))
    edges: list[ImportEdge] = []
    for app in sorted(known):
        for file in python_files(base, app):
            path = relative(base, file)
            seen: set[tuple[int, str]] = set()
            for ref in imports_among(parsed(file).nodes):
                if ref.top not in known or ref.top == app or (ref.line, ref.top) in seen:
                    continue
                seen.add((ref.line, ref.top))
                why = f"{path} imports {ref.module}"
                edges.append(ImportEdge(app, ref.top, ref.module, SourceRef(path, ref.line, ref.end_line, why)))
    return sorted(edges, key=lambda e: (e.source_app, e.ref.path, e.ref.line, e.target_app))


def app_dependencies(root: Path | None = None) -> dict[str, list[str]]:
    """App -> the other apps it imports (empty list: imports none)."""
    base = resolve_root(root)
    out: dict[str, set[str]] = {app: set() for app in apps(base)}
    for edge in import_graph(base):
        out[edge.source_app].add(edge.target_app)
    return {app: sorted(targets) for app, targets in sorted(out.items())}


def _dynamic_import(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return (
        name in DYNAMIC_IMPORTS
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )
