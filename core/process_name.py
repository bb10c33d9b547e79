"""A name for this process, as PostgreSQL shows it (``application_name`` in ``pg_stat_activity``).

An operator looking at the server's connections, or a test that terminates them, needs to know
whose each one is: ``shop web 812``, ``shop worker inventory 907``, ``shop relay 655``. The role
comes from the command line; ``SHOP_PROCESS_NAME`` overrides it. Worker pool children inherit
their parent's name (settings are read before the pool forks), so a name stands for a worker.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

#: PostgreSQL truncates application_name to 63 bytes.
MAX_LENGTH = 63


def role(argv: list[str]) -> str:
    """What the command line says this process is."""
    program = Path(argv[0]).name if argv else "python"
    if program == "__main__.py":  # python -m celery / pytest / gunicorn: the package's name
        program = Path(argv[0]).parent.name
    words = argv[1:]
    if "relay_outbox" in words:
        return "relay"
    if program.startswith("gunicorn") or "gunicorn" in words:
        return "web"
    if "worker" in words and program.startswith("celery"):
        for flag, value in itertools.pairwise(words):
            if flag in {"-n", "--hostname"}:
                return f"worker {value.split('@', 1)[0]}"
        return "worker"
    if program == "manage.py" and words:
        return words[0]
    return program.removesuffix(".py")


def process_name(argv: list[str] | None = None) -> str:
    name = os.environ.get("SHOP_PROCESS_NAME") or role(sys.argv if argv is None else argv)
    return f"shop {name} {os.getpid()}"[:MAX_LENGTH]
