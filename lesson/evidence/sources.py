"""This repository's own source, as evidence: files, syntax trees, and numbered excerpts.

Everything here reads files under a ``root`` (the repository by default). Tests pass a copy of
the repository with one line changed and watch the evidence change with it.
"""

from __future__ import annotations

import ast
from functools import cached_property, lru_cache
from pathlib import Path

from lesson.evidence.model import SourceRef

#: The repository root: lesson/evidence/sources.py -> lesson/evidence -> lesson -> root.
REPO_ROOT = Path(__file__).resolve().parents[2]
#: The only kinds of file an excerpt may show: source and text, never settings files or secrets.
EXCERPT_SUFFIXES = frozenset({".py", ".html", ".txt", ".md"})


class SourceError(ValueError):
    """A path outside the repository, or of a kind the evidence never shows."""


def resolve_root(root: Path | None) -> Path:
    return (root or REPO_ROOT).resolve()


def relative(root: Path, path: Path) -> str:
    """``path`` (found under ``root``) relative to it, with POSIX separators (how SourceRef names files)."""
    return path.relative_to(root).as_posix()


def python_files(root: Path, package: str) -> list[Path]:
    """Every .py file of ``package`` (a directory under ``root``, e.g. "orders" or "messaging/kernel")."""
    base = root / package
    if not base.is_dir():
        return []
    return sorted(p for p in base.rglob("*.py") if "__pycache__" not in p.parts)


def code_files(root: Path, package: str) -> list[Path]:
    """``python_files`` without generated migrations: the code that can declare or send messages."""
    return [p for p in python_files(root, package) if "migrations" not in p.relative_to(root).parts]


def snapshot(root: Path) -> tuple[tuple[str, int, int], ...]:
    """(path, mtime, size) of every Python file of every app: changes whenever the code does."""
    files = (p for app in apps(root) for p in python_files(root, app))
    return tuple((str(p), (st := p.stat()).st_mtime_ns, st.st_size) for p in files)


#: Top-level packages that are not the product: the test suite and the benchmarks.
NOT_PRODUCT = frozenset({"tests", "bench"})


def apps(root: Path) -> list[str]:
    """The product's top-level packages: the Django apps, the messaging and contracts packages,
    the HTTP API and the project (``shop``). Each is a node of the import graph."""
    found = (p.parent.name for p in root.glob("*/__init__.py"))
    return sorted(name for name in found if name not in NOT_PRODUCT and not name.startswith("."))


class Parsed:
    """A file's syntax tree, with indexes computed on first use and kept with the cached tree,
    so that each file is walked once however many questions are asked of it."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree

    @cached_property
    def nodes(self) -> list[ast.AST]:
        return list(ast.walk(self.tree))

    @cached_property
    def calls(self) -> list[ast.Call]:
        return [n for n in self.nodes if isinstance(n, ast.Call)]

    @cached_property
    def functions(self) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
        return [n for n in self.nodes if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]

    @cached_property
    def strings(self) -> list[tuple[str, ast.Constant]]:
        """Every string literal, with its node (to find the statement it is in)."""
        return [(n.value, n) for n in self.nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)]

    @cached_property
    def parents(self) -> dict[ast.AST, ast.AST]:
        return {child: node for node in self.nodes for child in ast.iter_child_nodes(node)}


def parsed(path: Path) -> Parsed:
    """The file parsed, cached until the file changes."""
    stat = path.stat()
    return _parse(str(path), stat.st_mtime_ns, stat.st_size)


def parse(path: Path) -> ast.Module:
    return parsed(path).tree


@lru_cache(maxsize=1024)
def _parse(path: str, mtime_ns: int, size: int) -> Parsed:
    return Parsed(ast.parse(Path(path).read_text(encoding="utf-8"), filename=path))


def span(path: str, node: ast.AST, why: str) -> SourceRef:
    """The lines ``node`` covers, decorators included for a function or class."""
    first = node.lineno  # type: ignore[attr-defined]
    decorators = getattr(node, "decorator_list", [])
    if decorators:
        first = min(first, *(d.lineno for d in decorators))
    last = getattr(node, "end_lineno", None) or first
    return SourceRef(path=path, line=first, end_line=last, why=why)


def parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    """Child node -> parent node, for finding the statement a name appears in."""
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def enclosing_statement(node: ast.AST, parent_of: dict[ast.AST, ast.AST]) -> ast.AST:
    """The innermost statement containing ``node``, unless that is a whole function or class."""
    current = node
    while current in parent_of and not isinstance(current, ast.stmt):
        if isinstance(current, ast.match_case):
            return current.pattern  # a `case "order.placed":` line, not the whole match
        current = parent_of[current]
    if isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node  # a name in a signature or decorator: point at the name itself
    return current


def find_function(root: Path, path: str, name: str, why: str) -> SourceRef | None:
    """The lines of function (or class) ``name`` defined anywhere in ``path``, or None."""
    file = root / path
    if not file.is_file():
        return None
    for node in ast.walk(parse(file)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            return span(path, node, why)
    return None


def find_assignment(root: Path, path: str, name: str, why: str) -> SourceRef | None:
    """The lines of the module-level assignment to ``name`` in ``path``, or None."""
    file = root / path
    if not file.is_file():
        return None
    for node in parse(file).body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return span(path, node, why)
    return None


def find_line(root: Path, path: str, text: str, why: str) -> SourceRef | None:
    """The first line of ``path`` that contains ``text`` (for non-Python lines such as a list entry)."""
    file = root / path
    if not file.is_file():
        return None
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if text in line:
            return SourceRef(path=path, line=number, end_line=number, why=why)
    return None


def excerpt(ref: SourceRef, root: Path | None = None, context: int = 2) -> list[tuple[int, str]]:
    """The numbered lines ``ref`` points at, with ``context`` lines either side.

    Refuses (SourceError) a path that leaves the repository (``..``, absolute paths, symlinks
    pointing out) or a file that is not source or text: the web page shows these lines to
    anyone who can open it.
    """
    base = resolve_root(root)
    if Path(ref.path).is_absolute():
        raise SourceError(f"{ref.path!r}: evidence paths are relative to the repository")
    target = (base / ref.path).resolve()
    if not target.is_relative_to(base):
        raise SourceError(f"{ref.path!r} is outside the repository")
    if target.suffix not in EXCERPT_SUFFIXES:
        raise SourceError(f"{ref.path!r}: only {', '.join(sorted(EXCERPT_SUFFIXES))} files are shown")
    if not target.is_file():
        raise SourceError(f"{ref.path!r} does not exist")
    lines = target.read_text(encoding="utf-8").splitlines()
    first = max(1, min(ref.line, ref.end_line) - max(context, 0))
    last = min(len(lines), max(ref.line, ref.end_line) + max(context, 0))
    return [(number, lines[number - 1]) for number in range(first, last + 1)]
