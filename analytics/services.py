from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import transaction

from analytics.models import MetricRecord


@transaction.atomic
def record_sale(order_id: uuid.UUID, *, revenue: Decimal, items_sold: int) -> None:
    """Record revenue and items sold for one order; recording it twice changes nothing."""
    for name, value in ((MetricRecord.Name.REVENUE, revenue), (MetricRecord.Name.ITEMS_SOLD, Decimal(items_sold))):
        MetricRecord.objects.get_or_create(name=name, order_id=order_id, defaults={"value": value})
