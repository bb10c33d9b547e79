"""HTTP endpoints of the read model: the order dashboard and how far behind it is.

Every answer carries the lag next to the data: the dashboard is eventually consistent, and a
client deserves to know how stale what it reads may be. Mounted in api/site.py.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import BeforeValidator, Field

from core.http_errors import ErrorOut
from readmodel import selectors

router = Router(tags=["read model"])

#: readmodel.projection.STATUSES, spelled out so the OpenAPI schema lists them.
StatusName = Literal["placed", "confirmed", "on_hold", "cancelled", "paid", "packed", "shipped"]


#: An amount as the summary's ``total`` column holds it (14 digits, 2 after the point), written plainly:
#: no sign, no exponent. The document states exactly this, so "3.54e-46" or "1e3" are refused
#: for a reason the client can read there (a bare Decimal accepted some exponents and not others).
AMOUNT_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"


def _true_or_false(value: Any) -> Any:
    """A boolean in a query string is ``true`` or ``false``, as the document's type says; pydantic
    alone would also read 1, yes, on, t... which the document calls not a boolean."""
    if isinstance(value, str) and value not in {"true", "false"}:
        raise ValueError("a boolean is written true or false")
    return value


class DashboardFilters(Schema):
    """Query parameters of GET /api/dashboard. Omit a parameter for no filter.

    An empty value is refused like any other value out of its type (``flagged=`` is not a boolean):
    only ``customer=``, a name containing the empty string, matches every order."""

    status: StatusName | None = None
    customer: str | None = Field(
        default=None, max_length=200, pattern=r"^[^\x00]*$", description="Part of the customer's name, any case."
    )
    flagged: Annotated[bool | None, BeforeValidator(_true_or_false)] = Field(
        default=None, description="true: only orders fraud flagged; false: only the others."
    )
    min_total: str | None = Field(
        default=None,
        pattern=AMOUNT_PATTERN,
        examples=["100", "49.99"],
        description="Only orders whose total is at least this: up to 12 digits, then up to 2 decimals.",
    )
    limit: int = Field(default=100, ge=1, le=1000, description="At most this many orders, newest first.")

    def min_total_amount(self) -> Decimal | None:
        return None if self.min_total is None else Decimal(self.min_total)


class LagOut(Schema):
    projection: str
    head_position: int = Field(description="The event store's last global position.")
    applied_position: int = Field(description="Every event at or below this position is in the read model.")
    pending_events: int = Field(description="Stored events the read model does not reflect yet.")


class SummaryOut(Schema):
    order_id: uuid.UUID
    customer_name: str
    item_count: int
    total: Decimal
    currency: str
    status: str
    placed_at: datetime | None
    shipped_at: datetime | None
    flagged: bool
    risk_score: float | None


class DashboardOut(Schema):
    lag: LagOut
    orders: list[SummaryOut]


@router.get("/dashboard", response={200: DashboardOut, 422: ErrorOut})
def order_dashboard(request: HttpRequest, filters: Query[DashboardFilters]) -> dict[str, Any]:
    """Event-mode orders from the read model: one table, no joins, eventually consistent."""
    # The lag is read first: the rows read after it are at least as fresh as it says.
    lag = selectors.lag()
    rows = selectors.dashboard(
        status=filters.status,
        customer=filters.customer,
        flagged=filters.flagged,
        min_total=filters.min_total_amount(),
    )
    return {"lag": lag, "orders": list(rows[: filters.limit])}


@router.get("/projections", response=list[LagOut])
def projection_lag(request: HttpRequest) -> list[dict[str, Any]]:
    """Each projection and how far it is behind the event store."""
    return [selectors.lag(name) for name in selectors.projections()]
