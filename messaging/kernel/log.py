"""Writes to the message log, so every mode's traffic can be read back per order."""

from __future__ import annotations

import os
import socket
from typing import Any

from core.models import MessageLog
from core.rows import Insert
from messaging.kernel.envelope import Envelope

#: One row per message sent and per message handled: built once (core/rows.py says why).
_insert = Insert(MessageLog)
_worker: tuple[int, str] | None = None


def worker_name() -> str:
    """host:pid, looked up once per process (a prefork child has its own pid, hence the check)."""
    global _worker
    pid = os.getpid()
    if _worker is None or _worker[0] != pid:
        _worker = (pid, f"{socket.gethostname()}:{pid}")
    return _worker[1]


def sent(envelope: Envelope, *, route: str, duration_ms: float) -> None:
    _insert(
        message_id=envelope.id,
        name=envelope.type,
        kind=envelope.kind.value,
        service=envelope.producer,
        route=route,
        status=MessageLog.Status.SENT,
        correlation_id=envelope.correlation_id,
        causation_id=envelope.causation_id or "",
        worker=worker_name(),
        duration_ms=duration_ms,
    )


def handled(
    envelope: Envelope,
    *,
    service: str,
    route: str,
    status: str,
    attempts: int = 1,
    duration_ms: float | None = None,
    error: str = "",
    outcome: dict[str, Any] | None = None,
) -> None:
    _insert(
        message_id=envelope.id,
        name=envelope.type,
        kind=envelope.kind.value,
        service=service,
        route=route,
        status=status,
        correlation_id=envelope.correlation_id,
        causation_id=envelope.causation_id or "",
        worker=worker_name(),
        attempts=attempts,
        duration_ms=duration_ms,
        error=error[:4000],
        outcome=outcome or {},
    )
