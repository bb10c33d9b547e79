"""Reads of the write model and of the messages an order caused."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from core.models import MessageLog
from orders.models import Order


def order_with_lines(order_id: uuid.UUID) -> Order | None:
    return (
        Order.objects.select_related("customer")
        .prefetch_related("lines", "failed_commands")
        .filter(pk=order_id)
        .first()
    )


def messages_caused_by(order_id: uuid.UUID) -> QuerySet[MessageLog]:
    return MessageLog.objects.filter(correlation_id=str(order_id)).order_by("created_at", "id")


def order_list(
    *,
    mode: str | None = None,
    status: str | None = None,
    customer_id: int | None = None,
    customer_name: str | None = None,
) -> QuerySet[Order]:
    """The write model's orders, newest first (``placed_at``, then ``id`` so a page boundary never
    splits a tie differently from one request to the next), filtered on the order's own columns and
    its customer. What a page shows of each (customer, lines, failed commands) is fetched with it,
    in a fixed number of queries however long the page is."""
    rows = Order.objects.select_related("customer").prefetch_related("lines", "failed_commands")
    if mode is not None:
        rows = rows.filter(mode=mode)
    if status is not None:
        rows = rows.filter(status=status)
    if customer_id is not None:
        rows = rows.filter(customer_id=customer_id)
    if customer_name:
        rows = rows.filter(customer__name__icontains=customer_name)
    return rows.order_by("-placed_at", "id")
