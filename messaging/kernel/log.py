"""Writes to the message log, so every mode's traffic can be read back per order."""

from __future__ import annotations

import os
import socket
from typing import Any

from core.models import MessageLog
from messaging.kernel.envelope import Envelope


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def sent(envelope: Envelope, *, route: str, duration_ms: float) -> None:
    MessageLog.objects.create(
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
) -> MessageLog:
    return MessageLog.objects.create(
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
