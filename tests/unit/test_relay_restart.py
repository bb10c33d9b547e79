"""A relay killed anyway is restarted: the Procfile's ``relay`` line, as ``make run`` runs it.

honcho stops the whole stack when one of its processes exits, so the line itself loops around
``relay_outbox``. Here that line runs under ``sh`` exactly as honcho would run it; its
``relay_outbox`` is killed with SIGKILL (no chance to clean up); a new one must take over and
publish a message that was left in the outbox after the kill.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection

from core.models import OutboxMessage
from messaging.kernel.envelope import Envelope
from messaging.kernel.names import Kind
from tests.integration.workers import procfile

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60.0


def relays_under(shell: int) -> list[int]:
    """The ``relay_outbox`` processes the shell started."""
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(shell)], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "relay_outbox" in line]


def wait_for(what: str, predicate: Callable[[], object]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {TIMEOUT:.0f}s waiting for {what}")
        time.sleep(0.1)


def pending_row() -> uuid.UUID:
    envelope = Envelope(
        kind=Kind.EVENT, type="order.cancelled", correlation_id="relay-test", producer="orders", data={}
    )
    OutboxMessage.objects.create(id=envelope.id, kind="event", name=envelope.type, envelope=envelope.to_wire())
    return envelope.id


def test_the_procfile_relay_line_restarts_a_killed_relay(tmp_path: Path) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("runs on the SQLite tier's test database")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # `python` is the venv's, as in make run
        "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CELERY_BROKER_URL": "memory://",
        "PYTHONPATH": str(ROOT),
    }
    log = (tmp_path / "relay.log").open("wb")
    shell = subprocess.Popen(
        ["sh", "-c", procfile()["relay"]],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for("the first relay_outbox", lambda: relays_under(shell.pid))
        first = relays_under(shell.pid)[0]
        os.kill(first, signal.SIGKILL)
        wait_for("a new relay_outbox", lambda: any(pid != first for pid in relays_under(shell.pid)))

        message_id = pending_row()
        wait_for("the new relay to publish", lambda: OutboxMessage.objects.get(pk=message_id).sent_at is not None)
        assert shell.poll() is None, "the Procfile line itself is still running"
    finally:
        os.killpg(shell.pid, signal.SIGTERM)
        shell.wait(timeout=20)
    assert "restarting it in 1 s" in (tmp_path / "relay.log").read_text()
