"""The read model's tables: one summary row per event-mode order, and the projector's bookmarks.

``OrderSummary`` is the lesson's ``orderSummaries``: denormalized on purpose, so the dashboard
reads one table with no joins (the customer's name is copied in when the order is placed).
Nothing but the projector writes it; it can be dropped and rebuilt from the event store at any
time (``manage.py rebuild_projections``).
"""

from __future__ import annotations

from django.db import models

from readmodel.projection import STATUSES


class OrderSummary(models.Model):
    order_id = models.UUIDField(unique=True)
    customer_name = models.CharField(max_length=200, help_text="Copied from the catalog when the order was placed.")
    item_count = models.PositiveIntegerField(default=0, help_text="Order lines, as the lesson counts items.")
    total = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=[(s, s) for s in STATUSES])
    placed_at = models.DateTimeField(null=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    flagged = models.BooleanField(default=False, help_text="Fraud flagged it: the order was put on hold.")
    risk_score = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-placed_at", "order_id"]
        indexes = [
            models.Index(fields=["-placed_at"], name="summary_newest_first"),
            models.Index(fields=["status", "-placed_at"], name="summary_by_status"),
        ]
        verbose_name = "order summary"
        verbose_name_plural = "order summaries"

    def __str__(self) -> str:
        return f"{self.order_id} {self.status} {self.total} {self.currency}"


class ProjectionTracking(models.Model):
    """How far a projection got in one stream, written in the transaction that writes its rows.

    Per stream, not one global position: events pushed by the bus can arrive out of order
    (retries, competing consumers), and a single "last position" would drop an older event that
    arrives late (ARCHITECTURE.md §5). With a version per stream, a redelivered or late event is
    recognised as already applied, and a missing one is fetched from the store.
    """

    projection = models.CharField(max_length=50)
    stream_id = models.CharField(max_length=64)
    version = models.PositiveIntegerField(default=0, help_text="The last stream version applied.")
    position = models.PositiveBigIntegerField(default=0, help_text="Global position of that event.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["projection", "-position"]
        constraints = [
            models.UniqueConstraint(fields=["projection", "stream_id"], name="one_bookmark_per_projection_stream")
        ]
        verbose_name = "projection tracking"
        verbose_name_plural = "projection tracking"

    def __str__(self) -> str:
        return f"{self.projection} {self.stream_id[:8]} v{self.version}"
