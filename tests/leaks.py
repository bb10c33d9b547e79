"""The leak check: when a test run ends, no process it started may still be alive.

A worker, relay or private ``redis-server`` left running by one test consumes, publishes or
listens for the tests after it, and for the next tier: the flaky "third consumer" of the
competing-consumers test was a relay left running by another broker's worker group. So the last
thing a run does (the teardown of this session fixture, which is set up first and torn down last)
is to look for processes it started:

- every descendant of this process, found by parent pid;
- every process whose environment carries this run's ``SHOP_TEST_RUN`` mark, which each child
  inherits, so a process that detached itself (double fork, new session) is found too.

It waits a few seconds for processes that are on their way out, then kills what is left (so the
next tier starts clean) and fails the run with an error that names each one: pid and command line.

Registered for the whole suite by ``tests/conftest.py``; ``pytest -p tests.leaks`` loads it alone
(tests/unit/test_leak_check.py runs a suite that leaks a worker on purpose).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

RUN_MARK = "SHOP_TEST_RUN"
#: Seconds a process may take to exit after the suite asked it to, before it counts as leaked.
GRACE = 5.0
PROC = Path("/proc")


@dataclass(frozen=True)
class Process:
    pid: int
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid}: {self.command}"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # gone meanwhile, or not ours to read
        return b""


def _parent_and_state(pid: int) -> tuple[int, str] | None:
    stat = _read(PROC / str(pid) / "stat").decode(errors="replace")
    if not stat:
        return None
    # "pid (command) state ppid ...": the command may contain spaces and parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0]


def _command(pid: int) -> str:
    raw = _read(PROC / str(pid) / "cmdline")
    return raw.replace(b"\0", b" ").decode(errors="replace").strip() or f"[{pid}]"


def started_by(root: int, mark: str) -> list[Process]:
    """Live processes (zombies excluded) below ``root``, or carrying ``RUN_MARK=mark``."""
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        info = _parent_and_state(pid)
        if info is not None and info[1] != "Z":
            parents[pid] = info[0]
    tagged = f"{RUN_MARK}={mark}".encode()

    def below_root(pid: int) -> bool:
        seen = set()
        while pid in parents and pid not in seen:
            seen.add(pid)
            pid = parents[pid]
            if pid == root:
                return True
        return False

    found = []
    for pid in sorted(parents):
        if pid == root:
            continue
        if below_root(pid) or tagged in _read(PROC / str(pid) / "environ").split(b"\0"):
            found.append(Process(pid, _command(pid)))
    return found


def kill(processes: list[Process]) -> None:
    for process in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(process.pid, signal.SIGKILL)


def leftovers(mark: str, grace: float = GRACE) -> list[Process]:
    """What this run started and is still alive after ``grace`` seconds."""
    deadline = time.monotonic() + grace
    while (alive := started_by(os.getpid(), mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


def pytest_configure(config: pytest.Config) -> None:
    # Set before any test starts a process, so that every one of them inherits it.
    os.environ[RUN_MARK] = uuid.uuid4().hex


@pytest.fixture(scope="session", autouse=True)
def _no_process_outlives_the_run() -> Iterator[None]:
    yield
    leaked = leftovers(os.environ[RUN_MARK])
    if leaked:
        kill(leaked)
        names = "\n".join(f"  {process}" for process in leaked)
        pytest.fail(
            f"{len(leaked)} process(es) started by this test run were still alive at its end (now killed):\n{names}",
            pytrace=False,
        )
