from __future__ import annotations

from typing import Any, Literal

from pydantic import EmailStr, Field

from contracts.common import Contract
from messaging.kernel.contracts import command

Template = Literal["order-confirmation", "order-cancelled"]


@command("email.send")
class SendEmail(Contract):
    """The lesson's ``email.send``: the sender decides recipient, template and data."""

    to: EmailStr
    template: Template
    data: dict[str, Any] = Field(default_factory=dict)
