"""The envelope every message travels in, command or event (ARCHITECTURE.md §3).

Metadata lives in the envelope, business data in ``data``, so that logging, tracing,
idempotency and dead-lettering work the same for every message without reading its data.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from messaging.kernel.errors import InvalidMessage
from messaging.kernel.names import Kind

#: The largest envelope, as compact JSON, that may be sent or will be handled. A message is a
#: notification, not a file transfer: bigger data travels by reference (an id to read it by).
#: Consumers dead-letter anything bigger before parsing it; the buses refuse to send it.
MAX_ENVELOPE_BYTES = 256 * 1024


class ReplyTo(BaseModel):
    """Return address of a command: which commands the consumer's outcome is sent back as.

    Only commands carry it. The consumer's code never names the sender; the messaging core
    reads the address from the envelope (Enterprise Integration Patterns' "Return Address").
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_success: str | None = None
    on_failure: str | None = None


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    kind: Kind
    type: str = Field(min_length=3, max_length=100)
    version: int = Field(default=1, ge=1)
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    correlation_id: str = Field(min_length=1, max_length=100)
    causation_id: str | None = Field(default=None, max_length=100)
    producer: str = Field(min_length=1, max_length=50)
    reply_to: ReplyTo | None = None
    #: A timer: a command that must not be handled before this moment (the saga's deadline).
    #: The outbox holds it until then (messaging/operations/relay.py), so no broker has to keep a
    #: message for a long time; see ``CommandBus.send(not_before=...)``.
    not_before: datetime | None = None
    data: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        """JSON-compatible dict: the only form that crosses the broker."""
        wire = self.model_dump(mode="json")
        if wire["reply_to"] is None:
            del wire["reply_to"]  # only commands that asked for replies carry one
        if wire["not_before"] is None:
            del wire["not_before"]  # only timers carry one
        return wire

    @classmethod
    def from_wire(cls, raw: object) -> Envelope:
        if not isinstance(raw, dict):
            raise InvalidMessage(f"an envelope is a JSON object, got {type(raw).__name__}")
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise InvalidMessage(f"not a valid envelope: {_first_error(exc)}") from exc

    def caused(
        self,
        *,
        kind: Kind,
        type: str,
        data: dict[str, Any],
        producer: str,
        version: int = 1,
        reply_to: ReplyTo | None = None,
    ) -> Envelope:
        """A new message caused by this one: same correlation, causation pointing here."""
        return Envelope(
            kind=kind,
            type=type,
            version=version,
            correlation_id=self.correlation_id,
            causation_id=str(self.id),
            producer=producer,
            reply_to=reply_to,
            data=data,
        )


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(root)"
    return f"{where}: {err['msg']}"


def wire_size(raw: object) -> int:
    """Size in bytes of a message as received: bytes as they are, anything else as compact JSON."""
    if isinstance(raw, bytes | bytearray):
        return len(raw)
    if isinstance(raw, str):
        return len(raw.encode("utf-8", "replace"))
    try:
        return len(json.dumps(raw, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8", "replace"))
    except (TypeError, ValueError):
        return len(repr(raw).encode("utf-8", "replace"))


def oversized(raw: object) -> str | None:
    """Why ``raw`` is too big to handle, or None if it is within the limit."""
    size = wire_size(raw)
    if size > MAX_ENVELOPE_BYTES:
        return f"oversized: {size} bytes > limit of {MAX_ENVELOPE_BYTES} bytes"
    return None
