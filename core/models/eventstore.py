"""The event store: one immutable row per event, appended, never changed.

Immutability is enforced three times: here (save of an existing row, delete, and the
queryset's update/delete raise), in the admin (read-only), and by database triggers that reject
UPDATE and DELETE (core/eventstore/triggers.py, installed by a migration).
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models
from django.utils import timezone


class ImmutableEventError(Exception):
    """Raised on any attempt to change or delete a stored event."""


def _refuse(what: str) -> NoReturn:
    raise ImmutableEventError(f"event store rows are immutable: {what} is not allowed; append a new event instead")


class EventQuerySet(models.QuerySet["EventRecord"]):
    def update(self, **kwargs: Any) -> int:
        _refuse("update")

    def delete(self) -> tuple[int, dict[str, int]]:
        _refuse("delete")

    def in_stream(self, stream_id: str) -> EventQuerySet:
        return self.filter(stream_id=stream_id).order_by("version")


class EventRecord(models.Model):
    position = models.BigAutoField(primary_key=True, help_text="Global position: the order of appends.")
    #: No index of its own: the unique (stream_id, version) pair below leads with it, and serves
    #: every read by stream (a replay, the version check). A second index, two on PostgreSQL
    #: (Django adds a LIKE index to an indexed CharField), was only more pages to write on every
    #: append and commit (docs/benchmarks.md, "Append against the library's write").
    stream_id = models.CharField(max_length=64)
    stream_type = models.CharField(max_length=30, default="order")
    version = models.PositiveIntegerField(help_text="1, 2, 3… within the stream.")
    type = models.CharField(max_length=100)
    schema_version = models.PositiveSmallIntegerField(default=1)
    data = models.JSONField()
    metadata = models.JSONField(default=dict, help_text="message_id, correlation_id, causation_id, producer")
    message_id = models.UUIDField(unique=True, help_text="The envelope id it was published with.")
    recorded_at = models.DateTimeField(default=timezone.now)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["stream_id", "version"], name="one_event_per_stream_version")]
        verbose_name = "stored event"

    def __str__(self) -> str:
        return f"#{self.position} {self.stream_id[:8]} v{self.version} {self.type}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding or (self.pk is not None and EventRecord.objects.filter(pk=self.pk).exists()):
            _refuse("saving an existing event")
        kwargs["force_insert"] = True  # never let Django turn a save into an UPDATE
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        _refuse("delete")
