"""HTTP endpoints of the read model: the order dashboard and how far behind it is.

Every answer carries the lag next to the data: the dashboard is eventually consistent, and a
client deserves to know how stale what it reads may be. Mounted in shop/api.py.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field, field_validator

from readmodel import selectors
from shop.http_errors import ErrorOut

router = Router(tags=["read model"])

#: readmodel.projection.STATUSES, spelled out so the OpenAPI schema lists them.
StatusName = Literal["placed", "confirmed", "on_hold", "cancelled", "paid", "packed", "shipped"]


class DashboardFilters(Schema):
    """Query parameters of GET /api/dashboard. A parameter left empty (``status=``) is no filter."""

    status: StatusName | None = None
    customer: str | None = Field(
        default=None, max_length=200, pattern=r"^[^\x00]*$", description="Part of the customer's name, any case."
    )
    flagged: bool | None = Field(default=None, description="true: only orders fraud flagged; false: only the others.")
    min_total: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)
    limit: int = Field(default=100, ge=1, le=1000, description="At most this many orders, newest first.")

    @field_validator("status", "customer", "flagged", "min_total", mode="before")
    @classmethod
    def blank_is_no_filter(cls, value: Any) -> Any:
        return None if value == "" else value


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
        status=filters.status, customer=filters.customer, flagged=filters.flagged, min_total=filters.min_total
    )
    return {"lag": lag, "orders": list(rows[: filters.limit])}


@router.get("/projections", response=list[LagOut])
def projection_lag(request: HttpRequest) -> list[dict[str, Any]]:
    """Each projection and how far it is behind the event store."""
    return [selectors.lag(name) for name in selectors.projections()]
