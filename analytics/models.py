from __future__ import annotations

from django.db import models


class MetricRecord(models.Model):
    """The lesson's ``analytics.record(name, value)``, one row per metric per order."""

    class Name(models.TextChoices):
        REVENUE = "revenue", "revenue"
        ITEMS_SOLD = "items_sold", "items sold"

    name = models.CharField(max_length=30, choices=Name.choices)
    order_id = models.UUIDField()
    value = models.DecimalField(max_digits=14, decimal_places=2)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-recorded_at"]
        constraints = [models.UniqueConstraint(fields=["name", "order_id"], name="one_metric_per_order")]

    def __str__(self) -> str:
        return f"{self.name}={self.value}"
