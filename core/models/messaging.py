"""Records the messaging core keeps: what was sent and handled, the inbox, dead letters, faults."""

from __future__ import annotations

from django.db import models

from messaging.kernel.names import Kind


class MessageLog(models.Model):
    """One row per message sent, and one per message a service handled.

    Filter by ``correlation_id`` to see everything one order caused, in either mode.
    """

    class Status(models.TextChoices):
        SENT = "sent", "sent"
        HANDLED = "handled", "handled"
        FAILED = "failed", "failed (retrying or replied)"
        DEAD_LETTERED = "dead_lettered", "dead-lettered"
        DUPLICATE = "duplicate", "duplicate (ignored)"

    message_id = models.UUIDField(db_index=True)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=[(k.value, k.value) for k in Kind])
    service = models.CharField(max_length=50, help_text="Sender for 'sent' rows, consumer otherwise.")
    route = models.CharField(max_length=120, help_text="Queue or exchange the message travelled through.")
    status = models.CharField(max_length=20, choices=Status.choices)
    correlation_id = models.CharField(max_length=100, db_index=True)
    causation_id = models.CharField(max_length=100, blank=True, default="")
    worker = models.CharField(max_length=120, blank=True, default="", help_text="host:pid of the process.")
    attempts = models.PositiveIntegerField(default=1)
    duration_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    outcome = models.JSONField(default=dict, blank=True, help_text="What the handler did or returned.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["service", "status"])]

    def __str__(self) -> str:
        return f"{self.name} [{self.status}] @ {self.service}"


class InboxEntry(models.Model):
    """Which messages a consumer has applied, written in the handler's own transaction.

    The unique pair turns at-least-once delivery into exactly-once effects: a redelivered
    message finds its row and is skipped.
    """

    consumer = models.CharField(max_length=50)
    message_id = models.UUIDField()
    message_type = models.CharField(max_length=100)
    handled_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["consumer", "message_id"], name="inbox_once_per_consumer")]
        verbose_name_plural = "inbox entries"

    def __str__(self) -> str:
        return f"{self.consumer} ← {self.message_type} {self.message_id}"


class DeadLetter(models.Model):
    """A message a consumer gave up on, with why. Works on every broker (Redis has no DLX)."""

    consumer = models.CharField(max_length=50)
    source = models.CharField(max_length=120, help_text="Queue it was taken from.")
    message_id = models.CharField(max_length=100, blank=True, default="")
    message_type = models.CharField(max_length=100, blank=True, default="")
    reason = models.TextField()
    attempts = models.PositiveIntegerField(default=1)
    raw = models.TextField(help_text="The message body as received (truncated to 64 KiB).")
    created_at = models.DateTimeField(auto_now_add=True)
    retried_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.consumer}: {self.message_type or '?'} ({self.reason[:40]})"


class InjectedFault(models.Model):
    """Makes one consumer fail on purpose, so the walkthrough and tests can show who notices.

    Stored in the database rather than in process memory so that it reaches real worker
    processes. Visible and removable in the admin.
    """

    service = models.CharField(max_length=50)
    message_type = models.CharField(max_length=100)
    error = models.CharField(max_length=200, default="injected failure")
    remaining = models.PositiveIntegerField(null=True, blank=True, help_text="Failures left; empty = always.")
    #: Fail as a lost database connection does (transient: the message goes back on its queue),
    #: rather than as the handler's own error (retried, then reported or dead-lettered).
    database = models.BooleanField(default=False, help_text="Fail like a lost database connection.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"fail {self.service} on {self.message_type}"
