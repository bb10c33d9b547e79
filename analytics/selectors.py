from __future__ import annotations

from decimal import Decimal

from django.db.models import Sum

from analytics.models import MetricRecord


def totals() -> dict[str, Decimal]:
    rows = MetricRecord.objects.values("name").annotate(total=Sum("value"))
    out = {name: Decimal("0") for name in MetricRecord.Name.values}
    out.update({row["name"]: row["total"] for row in rows})
    return out
