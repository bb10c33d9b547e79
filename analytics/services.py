from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import transaction

from analytics.models import MetricRecord
from core.rows import Insert

#: One metric row, or nothing where the unique (name, order_id) already holds one: what
#: ``get_or_create`` did in one statement instead of up to four (core/rows.py says why).
_record_once = Insert(MetricRecord, skip_conflicts=True)


@transaction.atomic
def record_sale(order_id: uuid.UUID, *, revenue: Decimal, items_sold: int) -> None:
    """Record revenue and items sold for one order; recording it twice changes nothing."""
    for name, value in ((MetricRecord.Name.REVENUE, revenue), (MetricRecord.Name.ITEMS_SOLD, Decimal(items_sold))):
        _record_once(name=name, order_id=order_id, value=value)
