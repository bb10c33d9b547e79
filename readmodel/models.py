"""The read model's tables: one summary row per event-mode order, and the projector's bookmarks.

``OrderSummary`` is the lesson's ``orderSummaries``: denormalized on purpose, so the dashboard
reads one table with no joins (the customer's name is copied in when the order is placed).
Nothing but the projector writes it; it can be dropped and rebuilt from the event store at any
time (``manage.py rebuild_projections``).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from readmodel.projection import STATUSES


class OrderSummary(models.Model):
    """One event-mode order as the dashboard shows it; its indexes follow the dashboard's queries.

    ``selectors.dashboard`` always orders by ``-placed_at, order_id`` and the API takes the first
    ``limit`` rows (LIMIT 100 by default). Each index below lets one filter's query be read from
    an index (tests/unit/test_dashboard_plans.py checks the plans with EXPLAIN on SQLite and
    PostgreSQL):

    - ``summary_newest_first`` (``-placed_at, order_id``): the listing with no filter. The index
      has the exact ORDER BY, so the query walks it and stops after LIMIT rows: no sort. It is also
      the fallback for any filter the others do not cover (a walk newest first, filtering).
    - ``summary_by_status`` (``status, -placed_at, order_id``): ``status=``. Equality on the
      first column, then the ORDER BY: no sort. Any combination that includes ``status`` can use
      it, with the other filters checked row by row along the walk.
    - ``summary_flagged_newest_first`` (``-placed_at, order_id`` where ``flagged``, a partial
      index): ``flagged=true``, the few orders fraud held: a small index, in the ORDER BY, no
      sort. Django writes the filter as a bare ``WHERE "flagged"``, which SQLite cannot match to
      a B-tree on ``(flagged, ...)`` but does match to this index's identical WHERE clause.
      ``flagged=false`` is nearly every order: it walks ``summary_newest_first``, skipping the
      few flagged rows, and stops after LIMIT rows; an index of its own would copy that one.
    - ``summary_by_total`` (``total``): ``min_total=``, a range. A range on the first column
      cannot also give the placed_at order, so the matching rows are sorted (top-N); that is cheap
      when the minimum is high (few rows). For a low minimum the planner walks
      ``summary_newest_first`` instead and stops after LIMIT matches.
    - ``customer=`` is a substring match ignoring case (``UPPER(customer_name) LIKE UPPER('%ada%')``):
      no B-tree can serve a pattern with a leading wildcard. On PostgreSQL migration 0002 adds
      ``summary_customer_trgm``, a GIN trigram index (pg_trgm) on ``UPPER(customer_name)``,
      the very expression Django's ``icontains`` compares; it is not in ``indexes`` below because
      Meta.indexes cannot declare an index for one engine only. On SQLite no index can serve the
      LIKE: the query walks ``summary_newest_first`` and stops after LIMIT matches.
    """

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
            # Why each index exists: the class docstring.
            models.Index(fields=["-placed_at", "order_id"], name="summary_newest_first"),
            models.Index(fields=["status", "-placed_at", "order_id"], name="summary_by_status"),
            models.Index(
                fields=["-placed_at", "order_id"], condition=Q(flagged=True), name="summary_flagged_newest_first"
            ),
            models.Index(fields=["total"], name="summary_by_total"),
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
