"""Starting and stopping the app's own processes from a test, as a user's shell would.

Each process gets a session (process group) of its own, so that stopping it stops what it started
(honcho's gunicorn and workers, make's children); the leak check (tests/leaks.py) finds any that
survive. Its output goes to a log file the test can show when something goes wrong.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start(argv: Sequence[str], *, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Run ``argv`` from the checkout's root in a session of its own, output to ``log``."""
    return subprocess.Popen(
        list(argv), cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(process: subprocess.Popen[bytes], *, how: signal.Signals = signal.SIGTERM, timeout: float = 20) -> None:
    """Ask the process group to stop (``how``: SIGINT is Ctrl-C), then kill it if it has not
    within ``timeout`` seconds."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, how)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
