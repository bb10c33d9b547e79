"""Replies to the order service in command mode.

A command carries a return address (``Envelope.reply_to``). When its handler finishes, the
messaging core sends the outcome to that address as one of these commands. This is how the
producer in command mode learns that a command failed: it asked to be told, by name.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from contracts.common import Contract
from messaging.kernel.contracts import command


class CommandOutcome(Contract):
    command: str
    command_id: uuid.UUID
    ok: bool
    result: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    request: dict[str, Any]


for _name in ("orders.advance_saga", "orders.review_risk", "orders.note_failure"):
    command(_name, reply=True)(CommandOutcome)
