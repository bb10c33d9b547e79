"""Fakes swapped in at the composition root (messaging.bootstrap.configure)."""

from __future__ import annotations

from messaging.kernel.envelope import Envelope


class RecordingTransport:
    """Keeps what would have gone to the broker, in order."""

    def __init__(self) -> None:
        self.delivered: list[Envelope] = []

    def deliver(self, envelope: Envelope) -> str:
        self.delivered.append(envelope)
        return "recorded"

    @property
    def names(self) -> list[str]:
        return [e.type for e in self.delivered]
