from __future__ import annotations

from django.db import models


class Reservation(models.Model):
    """Inventory's own record of what it holds for an order.

    Departure from the lesson's sketch, on purpose: the lesson's ``release`` reads the order
    back from ``db.orders``. Here inventory keeps the lines it reserved, so releasing needs
    nothing from the orders tables, and inventory could live in another database.

    A release that arrives before the reservation leaves a ``released`` row with no lines, so
    the late reservation is refused instead of leaking stock.
    """

    class Status(models.TextChoices):
        RESERVED = "reserved", "reserved"
        RELEASED = "released", "released"

    order_id = models.UUIDField(unique=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    items = models.JSONField(default=list, help_text="[{product_id, quantity}] as reserved.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"reservation for {str(self.order_id)[:8]} ({self.status})"
