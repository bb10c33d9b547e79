"""Admin for the messaging core's records: the message log, the inbox, dead letters, faults,
and the event store.

The log, the inbox, the dead letters and the stored events are records the code writes; the
admin only shows them (stored events could not be changed anyway: the model and the database
refuse it). Injected faults are the one thing learners edit here: arm one, watch who notices,
remove it.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from django.contrib import admin
from django.contrib.admin import ModelAdmin
from django.db.models import Model
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from shop.eventstore import store
from shop.messaging.errors import MessagingError
from shop.models import DeadLetter, EventRecord, InboxEntry, InjectedFault, MessageLog

_M = TypeVar("_M", bound=Model)


class ReadOnlyModelAdmin(ModelAdmin[_M]):
    """View-only: no add, change or delete, for anyone. For records the services own."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return False


def truncated(text: str, length: int = 80) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


@admin.register(MessageLog)
class MessageLogAdmin(ReadOnlyModelAdmin[MessageLog]):
    list_display = [
        "created_at",
        "kind",
        "name",
        "service",
        "route",
        "status",
        "attempts",
        "duration_ms",
        "correlation_id",
    ]
    list_filter = ["kind", "status", "service", "name"]
    search_fields = ["message_id", "correlation_id", "name"]
    date_hierarchy = "created_at"


@admin.register(InboxEntry)
class InboxEntryAdmin(ReadOnlyModelAdmin[InboxEntry]):
    """The idempotency records: editing one would make a consumer apply a message twice, or never."""

    list_display = ["handled_at", "consumer", "message_type", "message_id"]
    list_filter = ["consumer", "message_type"]
    search_fields = ["message_id", "message_type"]


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyModelAdmin[DeadLetter]):
    list_display = ["consumer", "source", "message_type", "short_reason", "attempts", "created_at", "retried_at"]
    list_filter = ["consumer", "source"]
    search_fields = ["message_id", "message_type", "reason"]

    @admin.display(description="reason", ordering="reason")
    def short_reason(self, obj: DeadLetter) -> str:
        return truncated(obj.reason)


@admin.register(InjectedFault)
class InjectedFaultAdmin(ModelAdmin[InjectedFault]):
    list_display = ["service", "message_type", "error", "remaining", "created_at"]
    list_filter = ["service"]
    search_fields = ["service", "message_type"]


def pretty_json(value: Any) -> SafeString:
    """A JSON value, indented, escaped, in a <pre>."""
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str))


EVENT_FIELDS = (
    "position",
    "stream_type",
    "stream_id",
    "version",
    "type",
    "schema_version",
    "recorded_at",
    "message_id",
    "stored_data",
    "read_as",
    "stored_metadata",
)


@admin.register(EventRecord)
class EventRecordAdmin(ReadOnlyModelAdmin[EventRecord]):
    """The event store, append-only: the admin shows it and can never change it."""

    list_display = ["position", "stream_id", "version", "type", "schema_version", "recorded_at"]
    list_filter = ["type", "schema_version"]
    search_fields = ["stream_id", "message_id"]
    ordering = ["-position"]
    fields = EVENT_FIELDS
    readonly_fields = EVENT_FIELDS

    @admin.display(description="data (as stored)")
    def stored_data(self, obj: EventRecord) -> SafeString:
        return pretty_json(obj.data)

    @admin.display(description="data (as read today)")
    def read_as(self, obj: EventRecord) -> SafeString:
        """What readers and consumers see: the data upcast to the newest schema version."""
        try:
            event = store.to_stored(obj)
        except MessagingError as exc:
            return format_html("<p>cannot be read: {}</p>", exc)
        if event.schema_version == event.stored_schema_version:
            return format_html("<p>v{} is the newest schema version: read as stored.</p>", event.schema_version)
        return format_html(
            "<p>upcast from v{} to v{}:</p>{}",
            event.stored_schema_version,
            event.schema_version,
            pretty_json(event.data),
        )

    @admin.display(description="metadata")
    def stored_metadata(self, obj: EventRecord) -> SafeString:
        return pretty_json(obj.metadata)
