"""The transactional outbox: messages written with the business rows, published after commit."""

from __future__ import annotations

from django.db import models


class OutboxMessage(models.Model):
    """A message waiting to be published, written in the same transaction as the change it
    announces. The relay marks it sent only once the broker has confirmed it."""

    id = models.UUIDField(primary_key=True, help_text="The envelope id.")
    kind = models.CharField(max_length=10)
    name = models.CharField(max_length=100)
    envelope = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    settled_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When every consumer it was for had handled it (messaging/operations/redelivery.py).",
    )
    redeliveries = models.PositiveIntegerField(
        default=0,
        help_text="Copies re-sent to a consumer that had not handled it (a message lost after the broker took it).",
    )
    redelivered_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(
        null=True, blank=True, help_text="A timer: the relay publishes it at this moment, not before."
    )

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["sent_at", "created_at"], name="outbox_unsent"),
            models.Index(fields=["settled_at", "sent_at"], name="outbox_unsettled"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({'sent' if self.sent_at else 'pending'})"
