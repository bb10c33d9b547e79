"""Admin for the messaging core's records: the message log, the inbox, dead letters, faults,
and the event store.

The log, the inbox, the dead letters and the stored events are records the code writes; the
admin only shows them (stored events could not be changed anyway: the model and the database
refuse it). Injected faults are the one thing learners edit here: arm one, watch who notices,
remove it.

The admin index opens with the two modes compared from this database (lesson/admin_summary.py,
drawn by admin/shop/index.html), so a newcomer sees the lesson before the lists of tables.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from django.contrib import admin, messages
from django.contrib.admin import ModelAdmin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from contracts import cards
from core.eventstore import store
from core.models import DeadLetter, EventRecord, InboxEntry, InjectedFault, MessageLog, OutboxMessage
from messaging.kernel.errors import MessagingError
from messaging.operations import deadletters

_M = TypeVar("_M", bound=Model)

# The index is Django's own view; its template adds the comparison above the list of apps.
admin.site.index_template = "admin/shop/index.html"
admin.site.site_header = "Commands vs events: the shop's admin"
admin.site.index_title = "Both modes, side by side"


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
    """Read-only rows, and one action: send the selected letters back to their own consumer."""

    list_display = ["consumer", "source", "message_type", "short_reason", "attempts", "created_at", "retried_at"]
    list_filter = ["consumer", "source", ("retried_at", admin.EmptyFieldListFilter)]
    search_fields = ["message_id", "message_type", "reason"]
    actions = ["retry_selected"]

    @admin.display(description="reason", ordering="reason")
    def short_reason(self, obj: DeadLetter) -> str:
        return truncated(obj.reason)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        """Retrying sends messages: it takes the "change dead letter" permission (superusers
        have it), though the rows themselves stay read-only."""
        return request.user.has_perm("shop.change_deadletter")

    @admin.action(description="Retry selected dead letters", permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        outcomes = deadletters.retry_many(queryset.order_by("created_at", "id"))
        sent = [o for o in outcomes if o.retried]
        if sent:
            self.message_user(
                request,
                f"Sent {len(sent)} dead letter(s) back to their own consumer: "
                + "; ".join(f"#{o.letter_id} {o.detail}" for o in sent),
                messages.SUCCESS,
            )
        for outcome in outcomes:
            if not outcome.retried:
                self.message_user(request, f"Dead letter #{outcome.letter_id} {outcome.detail}", messages.WARNING)


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

    @admin.display(description="data (as stored, card tokens masked)")
    def stored_data(self, obj: EventRecord) -> SafeString:
        # A v2 order.placed holds a whole card token: the row cannot change, the page need not show it.
        return pretty_json(cards.masked(obj.data))

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


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyModelAdmin[OutboxMessage]):
    """What is waiting to be published, and what the relay already handed to the broker."""

    list_display = ["created_at", "kind", "name", "sent_at", "attempts", "last_error"]
    list_filter = ["kind", "name", ("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["id", "name"]
    date_hierarchy = "created_at"
