"""The write model: an order's current state, overwritten in place, in both modes."""

from __future__ import annotations

import uuid

from django.db import models


class FlowMode(models.TextChoices):
    COMMAND = "command", "command mode"
    EVENT = "event", "event mode"


class Order(models.Model):
    class Status(models.TextChoices):
        PLACED = "placed", "placed"
        CONFIRMED = "confirmed", "confirmed (stock reserved)"
        ON_HOLD = "on_hold", "on hold (flagged)"
        PAID = "paid", "paid"
        PACKED = "packed", "packed"
        SHIPPED = "shipped", "shipped"
        CANCELLED = "cancelled", "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey("catalog.Customer", on_delete=models.PROTECT, related_name="orders")
    mode = models.CharField(max_length=10, choices=FlowMode.choices, db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PLACED, db_index=True)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    reserved_at = models.DateTimeField(null=True, blank=True, help_text="When inventory confirmed the stock.")
    authorized_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When stock and payment were both secured while the order still waited for its risk verdict "
        "or for a person to release its hold. Confirmation follows the verdict or the release.",
    )
    risk_score = models.FloatField(null=True, blank=True, help_text="Fraud's score, 0 to 1; null until it answers.")
    hold_reason = models.TextField(blank=True, default="")
    reviewed_by = models.CharField(
        max_length=150, blank=True, default="", help_text="The staff user who released or rejected the hold."
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True, default="")
    payment_method = models.CharField(max_length=30, blank=True, default="")
    warehouse = models.CharField(max_length=30, blank=True, default="")
    carrier = models.CharField(max_length=30, blank=True, default="")
    tracking = models.CharField(max_length=60, blank=True, default="")
    shipped_at = models.DateTimeField(null=True, blank=True)
    #: The last four characters of the card token, never the token (contracts/cards.py).
    card_last4 = models.CharField(
        max_length=4, default="4242", help_text="The card token's last four characters: never the token itself."
    )
    confirm_by = models.DateTimeField(
        null=True, blank=True, help_text="The saga's deadline: unconfirmed by then, orders gives up and compensates."
    )
    version = models.PositiveIntegerField(
        default=0, help_text="Event mode: the version of the order's stream in the event store."
    )
    placed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-placed_at"]

    def __str__(self) -> str:
        return f"order {str(self.id)[:8]} ({self.mode}, {self.status})"

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines.all())


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT)
    sku = models.CharField(max_length=40)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "product"], name="one_line_per_product"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="line_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku}"


class FailedCommand(models.Model):
    """A command this order sent that failed, as the consumer reported back.

    Command mode only: the producer owns its commands' failures, so it must keep track of them.
    In event mode the failing consumer keeps its own dead letter and orders never hears of it.
    """

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="failed_commands")
    command = models.CharField(max_length=100)
    command_id = models.UUIDField(unique=True)
    error = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.command} failed: {self.error[:60]}"


class IdempotencyKey(models.Model):
    """A client's ``Idempotency-Key`` for ``POST /api/orders``, and the order it created.

    Written in the order's own transaction, so a key exists exactly when its order does. Two
    concurrent requests with one key are settled by the unique constraint: the loser's
    transaction rolls back (its order and messages with it) and it answers with the winner's
    order. The fingerprint is the sha256 of the request's canonical JSON: the same key with a
    different request is refused rather than silently answered with the first order.
    """

    key = models.CharField(max_length=200, unique=True)
    fingerprint = models.CharField(max_length=64, help_text="sha256 (hex) of the request's canonical JSON.")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="idempotency_keys")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"idempotency key {self.key[:40]} -> {self.order_id}"


class Saga(models.Model):
    """Command mode's orchestrator state: one row per order, advanced by each command's reply.

    The plan (which steps, in which order, and what undoes each) is the table
    ``orders.flows.commanding.FULFILMENT``; this row only records where an order is in it. It lives
    in the database, not in a worker's memory, so a saga survives any worker restart: whichever worker
    handles the next reply loads it, advances it and saves it in the same transaction as the
    inbox entry for that reply. Event mode has no such row: nobody holds that flow, and the
    admin reconstructs it from the messages' correlation id.
    """

    class State(models.TextChoices):
        RUNNING = "running", "running"
        COMPLETED = "completed", "completed"
        COMPENSATED = "compensated", "compensated (failed, undone)"
        CANCELLED = "cancelled", "cancelled by the customer"

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="saga", primary_key=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.RUNNING, db_index=True)
    current_step = models.CharField(max_length=40, blank=True, default="")
    steps_done = models.JSONField(default=list, help_text="Steps that succeeded, in order.")
    compensating = models.BooleanField(default=False)
    compensations = models.JSONField(default=list, help_text="Compensations sent, in the order they were sent.")
    failure = models.TextField(blank=True, default="")
    deadline = models.DateTimeField()
    history = models.JSONField(default=list, help_text="[{at, step, outcome, detail}], oldest first.")
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"saga for {str(self.order_id)[:8]} ({self.state}, step {self.current_step or '-'})"
