"""The order API's wire shapes.

Input schemas reject what the service would reject anyway (missing fields, quantities out of
range, unknown keys), so ninja answers with a 422 naming the field before any query runs. The
bounds come from ``orders.services``, and text bounds from the order row's columns, so the schema
cannot drift from the service or the row. What
only the database can know (does product 999 exist?) is left to the service's ``OrderError``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from django.db import models
from ninja import Schema
from pydantic import BeforeValidator, ConfigDict, Field, StringConstraints

# The API's one error shape lives in shop (the read model answers with it too); re-exported here,
# where the order views and their tests have always imported it from.
from core.http_errors import ErrorItem as ErrorItem
from core.http_errors import ErrorOut as ErrorOut
from orders.models import FlowMode, IdempotencyKey, Order
from orders.services import MAX_LINES, MAX_QUANTITY

#: An ``Idempotency-Key``: printable ASCII (space to ~), neither starting nor ending with a space.
#: Length (1..200, the column's) is checked apart, so each refusal names its own bound.
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$"


#: The largest id a row can have (a 64-bit BigAutoField): a larger one names nothing, and SQLite
#: cannot even compare it (an OverflowError, a 500, before this bound was stated).
MAX_ROW_ID = 2**63 - 1


def _max_length(field: str, model: type[models.Model] = Order) -> int:
    """The bound of an order column, so the API, the row and the event contract agree."""
    column = model._meta.get_field(field)
    assert isinstance(column, models.CharField) and column.max_length is not None, field
    return column.max_length


IDEMPOTENCY_KEY_MAX_LENGTH = _max_length("key", IdempotencyKey)


#: One line of text: no control characters. PostgreSQL cannot store NUL in text at all (a NUL
#: would be a 500 there and a 200 on SQLite); the other C0/C1 controls have no place in a label.
SINGLE_LINE = r"^[^\x00-\x1f\x7f-\x9f]*$"

#: A label: one line (as above) that neither starts nor ends with whitespace, so never blank. The
#: whitespace is what Python's str.isspace() calls so, spelled out (JSON Schema's \s differs from
#: Python's), so the OpenAPI pattern and the server refuse exactly the same strings. It used to be
#: stripped instead; but a stripped " card " passed a maxLength the document said it broke, and
#: "   " broke a bound the document did not state.
_CHAR = r"[^\x00-\x1f\x7f-\x9f]"
_EDGE = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
LABEL = rf"^{_EDGE}(?:{_CHAR}*{_EDGE})?$"


def _text(field: str) -> StringConstraints:
    """Required, one line, no surrounding whitespace (so never blank), at most the column's length."""
    return StringConstraints(min_length=1, max_length=_max_length(field), pattern=LABEL)


def _whole_number(value: Any) -> Any:
    """2.0 is the integer 2 in JSON, and in the JSON Schema the document states ("type": "integer"
    accepts it): read it as 2. 2.5, NaN and infinity stay floats, which the strict int refuses."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: An integer as JSON has it: a number with no fraction, 2 or 2.0; never "2" or true (strict).
JsonInt = Annotated[int, BeforeValidator(_whole_number)]


class LineIn(Schema):
    # Strict: a JSON API should not read "2" or true as a quantity (2.0 is 2: see JsonInt).
    model_config = ConfigDict(extra="forbid", strict=True)

    product_id: JsonInt = Field(gt=0, le=MAX_ROW_ID, description="A product id from GET /api/products.")
    quantity: JsonInt = Field(ge=1, le=MAX_QUANTITY)


class OrderIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: JsonInt = Field(gt=0, le=MAX_ROW_ID, description="A customer id from GET /api/customers.")
    items: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)
    # Not strict: the enum is matched from its JSON string value.
    mode: FlowMode | None = Field(
        default=None, strict=False, description="command or event; omitted means the server's SHOP_FLOW_MODE."
    )
    payment_token: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_]+$",
        description="A card token (never card data). Test tokens: ending in 0002 is declined, in 0003 a slow "
        "issuer; omitted means tok_4242, which authorizes.",
    )


class PayIn(Schema):
    """The lesson's PaymentReceived: allowed from placed or confirmed."""

    model_config = ConfigDict(extra="forbid", strict=True)

    method: Annotated[str, _text("payment_method"), Field(description="How the customer paid, e.g. card.")]


class PackIn(Schema):
    """Allowed once paid, and only when inventory has reserved the stock."""

    model_config = ConfigDict(extra="forbid", strict=True)

    warehouse: Annotated[str, _text("warehouse"), Field(description="The warehouse that packed it, e.g. W2.")]


class ShipIn(Schema):
    """Allowed once packed."""

    model_config = ConfigDict(extra="forbid", strict=True)

    carrier: Annotated[str, _text("carrier"), Field(description="e.g. DHL.")]
    tracking: Annotated[str, _text("tracking"), Field(description="The carrier's tracking number.")]


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
    risk_score: float | None = Field(description="Fraud's score, 0 to 1; null until fraud has answered.")
    hold_reason: str = Field(
        description="Why fraud flagged it; the order then waits for staff to release or reject it."
    )
    reviewed_by: str = Field(description="The staff user who released or rejected the hold; empty otherwise.")
    reviewed_at: datetime | None
    authorized_at: datetime | None = Field(
        description="When stock and payment were secured while the order waited for its risk verdict or a person."
    )
    cancel_reason: str
    payment_method: str
    card_last4: str = Field(description="The card token's last four characters: the shop keeps no token.")
    warehouse: str
    carrier: str
    tracking: str
    reserved_at: datetime | None
    confirm_by: datetime | None = Field(description="The saga's deadline: not confirmed by then, it is given up.")
    shipped_at: datetime | None
    version: int = Field(description="Event mode: how many events the order's stream holds. Command mode: 0.")
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


class StreamEventOut(Schema):
    """One event of the order's stream, its data upcast to the newest schema version."""

    version: int = Field(description="1, 2, 3... within the order's stream.")
    position: int = Field(description="Global position in the event store: the order of appends.")
    type: str
    schema_version: int = Field(description="The schema version the data is shown in (the newest).")
    stored_schema_version: int = Field(description="The schema version it was stored with; lower means upcast.")
    recorded_at: datetime
    data: dict[str, Any]


class ReplayedStateOut(Schema):
    """GET /api/orders/{id}/state: the fold of the first ``version`` events of the stream."""

    order_id: uuid.UUID
    version: int = Field(description="The last version folded.")
    stream_version: int = Field(description="The stream's current version (its head).")
    state: dict[str, Any] = Field(description="lifecycle.replay of the events: Decimals as strings, times ISO 8601.")
    events: list[StreamEventOut] = Field(description="The events folded, oldest first.")


class DriftOut(Schema):
    field: str
    row_value: Any
    replayed_value: Any


class HistoryOut(Schema):
    """Where an order's past lives. Event mode: its stream and the state replayed from it."""

    available: bool
    note: str
    version: int | None = Field(default=None, description="Event mode: the stream's current version.")
    state: dict[str, Any] | None = Field(default=None, description="Event mode: the replay of the whole stream.")
    events: list[StreamEventOut] = Field(default_factory=list)
    drift: list[DriftOut] = Field(
        default_factory=list, description="Fields where the order row disagrees with the replay (normally none)."
    )


#: Orders per page of GET /api/orders, at most.
MAX_PAGE = 100
#: How far into the list a page may start: far past any real list, and an OFFSET every database takes.
MAX_OFFSET = 2**31 - 1


class OrderListFilters(Schema):
    """Query parameters of GET /api/orders. Omit a filter for all orders; an empty value is refused
    like any other value out of its type."""

    mode: FlowMode | None = Field(default=None, description="Only orders placed in this mode.")
    status: Order.Status | None = Field(default=None, description="Only orders in this status now.")
    customer: int | None = Field(
        default=None, ge=1, le=MAX_ROW_ID, description="A customer id (GET /api/customers): only their orders."
    )
    customer_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=SINGLE_LINE,
        description="Part of the customer's name, any case.",
    )
    limit: int = Field(default=50, ge=1, le=MAX_PAGE, description=f"At most this many orders (1 to {MAX_PAGE}).")
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET, description="Skip this many orders first.")


class OrderPageOut(Schema):
    """One page of GET /api/orders: newest first (placed_at, then id)."""

    count: int = Field(description="How many orders match the filters in all: the same on every page.")
    items: list[OrderOut]
