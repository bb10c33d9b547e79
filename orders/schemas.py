"""The order API's wire shapes.

Input schemas reject what the service would reject anyway (missing fields, quantities out of
range, unknown keys), so ninja answers with a 422 naming the field before any query runs. The
bounds come from ``orders.services`` so the schema and the service cannot drift apart. What
only the database can know (does product 999 exist?) is left to the service's ``OrderError``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field

from orders.models import FlowMode
from orders.services import MAX_LINES, MAX_QUANTITY


class LineIn(Schema):
    # Strict: a JSON API should not read "2", 2.0 or true as a quantity.
    model_config = ConfigDict(extra="forbid", strict=True)

    product_id: int = Field(gt=0, description="A product id from GET /api/products.")
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class OrderIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: int = Field(gt=0, description="A customer id from GET /api/customers.")
    items: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)
    # Not strict: the enum is matched from its JSON string value.
    mode: FlowMode | None = Field(
        default=None, strict=False, description="command or event; omitted means the server's SHOP_FLOW_MODE."
    )


class ErrorItem(Schema):
    type: str = Field(description="A pydantic error type, or value_error / not_found / conflict from the service.")
    loc: list[str | int] = Field(
        description='Where the input was ("body", "path") and the field, e.g. body.items.0.quantity.'
    )
    msg: str
    ctx: dict[str, Any] | None = Field(default=None, description="Ninja's validation errors only: the bound hit.")


class ErrorOut(Schema):
    """Every 4xx from this API, whether ninja's schema validation or the order service refused."""

    detail: list[ErrorItem]


class CustomerRef(Schema):
    id: int
    name: str


class LineOut(Schema):
    product_id: int
    sku: str
    quantity: int
    unit_price: Decimal


class FailedCommandOut(Schema):
    command: str
    error: str


class OrderOut(Schema):
    """The write model: the order's current state, as both modes keep it."""

    id: uuid.UUID
    mode: str
    status: str
    total: Decimal
    customer: CustomerRef
    lines: list[LineOut]
    risk_score: float | None
    hold_reason: str
    cancel_reason: str
    reserved_at: datetime | None
    placed_at: datetime
    failed_commands: list[FailedCommandOut] = Field(
        description="Command mode only: commands whose consumer gave up and told the order service."
    )


class MessageOut(Schema):
    """One row of the message log: a message sent, or one service's handling of it."""

    message_id: uuid.UUID
    name: str
    kind: str
    service: str
    route: str
    status: str
    attempts: int
    duration_ms: float | None
    error: str
    outcome: dict[str, Any]
    causation_id: str
    created_at: datetime


class HistoryOut(Schema):
    """Where an order's past lives. Kept in the response so the event store can fill it in later."""

    available: bool
    note: str


class OrderDetailOut(OrderOut):
    messages: list[MessageOut] = Field(description="Everything this order caused, in either mode, oldest first.")
    history: HistoryOut
