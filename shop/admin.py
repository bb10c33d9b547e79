"""Admin for the messaging core's records: the message log, the inbox, dead letters, faults.

The log, the inbox and the dead letters are records the code writes; the admin only shows them.
Injected faults are the one thing learners edit here: arm one, watch who notices, remove it.
"""

from __future__ import annotations

from typing import TypeVar

from django.contrib import admin
from django.contrib.admin import ModelAdmin
from django.db.models import Model
from django.http import HttpRequest

from shop.models import DeadLetter, InboxEntry, InjectedFault, MessageLog

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
