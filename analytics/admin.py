"""Analytics' metrics: written by the analytics service, shown here read-only."""

from __future__ import annotations

from django.contrib import admin

from analytics.models import MetricRecord
from core.admin import ReadOnlyModelAdmin


@admin.register(MetricRecord)
class MetricRecordAdmin(ReadOnlyModelAdmin[MetricRecord]):
    list_display = ["name", "order_id", "value", "recorded_at"]
    list_filter = ["name"]
    search_fields = ["order_id"]
