"""Reading the read model: one table, no joins, and how far behind the event store it is."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, IntegerField, Min, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from core.eventstore import store
from core.models import EventRecord
from readmodel.models import OrderSummary, ProjectionTracking
from readmodel.services import ORDER_STREAM, ORDER_SUMMARY


def summary_for(order_id: uuid.UUID) -> OrderSummary | None:
    """The order's summary, or None: a command-mode order, or one the projector has not seen yet."""
    return OrderSummary.objects.filter(order_id=order_id).first()


def dashboard(
    *,
    status: str | None = None,
    customer: str | None = None,
    flagged: bool | None = None,
    min_total: Decimal | None = None,
) -> QuerySet[OrderSummary]:
    """The lesson's ``getOrderDashboard(filters)``: newest first, filters on the summary's own columns.

    ``customer`` matches a part of the customer's name, ignoring case. No filter joins another
    table: the name was copied onto the row when the order was placed.
    """
    rows = OrderSummary.objects.all()
    if status is not None:
        rows = rows.filter(status=status)
    if customer:
        rows = rows.filter(customer_name__icontains=customer)
    if flagged is not None:
        rows = rows.filter(flagged=flagged)
    if min_total is not None:
        rows = rows.filter(total__gte=min_total)
    return rows.order_by("-placed_at", "order_id")


def projections() -> list[str]:
    """Every projection this app keeps (one, for now)."""
    return [ORDER_SUMMARY]


def lag(projection: str = ORDER_SUMMARY) -> dict[str, Any]:
    """How far the projection is behind the event store.

    - ``head_position``: the store's last global position.
    - ``applied_position``: the highest P such that every order-stream event at or below P has
      been applied. Events are applied per stream, so one stream can be ahead of another; this is
      one less than the oldest unapplied event's position (the head when none is pending).
    - ``pending_events``: stored events not applied yet. 0 means the read model is up to date
      with everything committed so far.
    """
    head = store.head_position()
    tracked = ProjectionTracking.objects.filter(projection=projection, stream_id=OuterRef("stream_id")).values(
        "version"
    )[:1]
    pending = (
        EventRecord.objects.filter(stream_type=ORDER_STREAM)
        .annotate(applied_version=Coalesce(Subquery(tracked), 0, output_field=IntegerField()))
        .filter(version__gt=F("applied_version"))
        .order_by()
        .aggregate(oldest=Min("position"), count=Count("position"))
    )
    oldest: int | None = pending["oldest"]
    return {
        "projection": projection,
        "head_position": head,
        "applied_position": head if oldest is None else oldest - 1,
        "pending_events": pending["count"],
    }
