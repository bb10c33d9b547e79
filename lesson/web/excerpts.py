"""The source lines behind a piece of evidence, for the page's source viewer.

The request names a file and a line span, so it is untrusted: only source files inside the
repository are shown, never a path that leaves it (``../``, absolute paths, symlinks pointing out),
a hidden directory, the virtualenv or ``var/`` (databases, screenshots), or a file type that is
not source or documentation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings

from lesson.evidence import tables as measured_tables
from lesson.evidence.model import SourceRef
from lesson.evidence.sources import SourceError

#: What a piece of evidence can point at: code, templates and docs (what lesson.evidence shows).
SOURCE_SUFFIXES = frozenset({".py", ".html", ".txt", ".md"})
#: Directories that are not the project's source even though they sit in the checkout.
EXCLUDED_DIRS = frozenset({"var", "node_modules", "build", "dist", "test-artifacts", "__pycache__"})
#: Lines of context shown around the span, and the longest span served.
CONTEXT = 2
MAX_SPAN = 400


class RefusedPath(ValueError):
    """The request names something the viewer will not show; the message says which rule."""

    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class MissingSource(RefusedPath):
    """An allowed path or line that does not exist."""

    status = 404


@dataclass(frozen=True)
class Excerpt:
    ref: SourceRef
    lines: list[tuple[int, str]]

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.ref.path,
            "line": self.ref.line,
            "end_line": self.ref.end_line,
            "location": self.ref.location,
            "why": self.ref.why,
            "lines": [
                {"number": n, "text": text, "cited": self.ref.line <= n <= self.ref.end_line} for n, text in self.lines
            ],
        }


def repository_root() -> Path:
    return Path(settings.BASE_DIR).resolve()


def checked_path(path: str, *, root: Path | None = None) -> Path:
    """The file ``path`` names, if it is a source file inside the repository; else RefusedPath."""
    base = (root or repository_root()).resolve()
    if not path or "\x00" in path or "\\" in path:
        raise RefusedPath("path", "give a relative path with / separators, e.g. orders/flows/commanding.py")
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts:
        raise RefusedPath("path", f"{path!r} leaves the repository: only paths inside it are shown")
    if any(part.startswith(".") or part in EXCLUDED_DIRS for part in relative.parts[:-1]):
        raise RefusedPath("path", f"{path!r} is not in a source directory")
    name = relative.name
    if name.startswith(".") or relative.suffix not in SOURCE_SUFFIXES:
        raise RefusedPath("path", f"{path!r} is not a source or documentation file")
    resolved = (base / relative).resolve()
    if not resolved.is_relative_to(base):
        raise RefusedPath("path", f"{path!r} points outside the repository")
    if not resolved.is_file():
        raise MissingSource("path", f"{path!r}: no such file in the repository")
    return resolved


def excerpt(path: str, line: int, end_line: int, why: str = "", *, root: Path | None = None) -> Excerpt:
    """The cited lines of ``path`` with a little context, read by ``lesson.evidence.tables``."""
    base = (root or repository_root()).resolve()
    checked_path(path, root=base)
    if line < 1:
        raise RefusedPath("line", "line numbers start at 1")
    if end_line < line:
        raise RefusedPath("end_line", "end_line must not be before line")
    if end_line - line >= MAX_SPAN:
        raise RefusedPath("end_line", f"at most {MAX_SPAN} lines at a time")

    ref = SourceRef(path=path, line=line, end_line=end_line, why=why)
    try:
        lines = measured_tables.source_excerpt(ref, root=base, context=CONTEXT)
    except SourceError as exc:  # its own rules, checked again: refuse, never a 500
        raise RefusedPath("path", str(exc)) from exc
    if not lines:
        raise MissingSource("line", f"{path} has no line {line}")
    return Excerpt(ref, lines)
