"""Reads of the write model and of the messages an order caused."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from orders.models import Order
from shop.models import MessageLog


def order_with_lines(order_id: uuid.UUID) -> Order | None:
    return (
        Order.objects.select_related("customer")
        .prefetch_related("lines", "failed_commands")
        .filter(pk=order_id)
        .first()
    )


def messages_caused_by(order_id: uuid.UUID) -> QuerySet[MessageLog]:
    return MessageLog.objects.filter(correlation_id=str(order_id)).order_by("created_at", "id")
