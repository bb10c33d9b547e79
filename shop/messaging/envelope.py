"""The envelope every message travels in, command or event (ARCHITECTURE.md §3).

Metadata lives in the envelope, business data in ``data``, so that logging, tracing,
idempotency and dead-lettering work the same for every message without reading its data.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shop.messaging.errors import InvalidMessage
from shop.messaging.names import Kind


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
    data: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        """JSON-compatible dict: the only form that crosses the broker."""
        wire = self.model_dump(mode="json")
        if wire["reply_to"] is None:
            del wire["reply_to"]  # only commands that asked for replies carry one
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
