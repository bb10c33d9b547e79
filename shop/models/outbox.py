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

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["sent_at", "created_at"], name="outbox_unsent")]

    def __str__(self) -> str:
        return f"{self.name} ({'sent' if self.sent_at else 'pending'})"
