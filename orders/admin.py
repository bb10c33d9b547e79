"""Orders in the admin, each with the messages it caused.

Orders change only through the flows (orders/services.py), which also send the messages that
tell or inform the other services; an edit here would send nothing. So the admin shows orders
and never writes them.

The message log has no foreign key to orders: every message an order caused carries the
order's id as its ``correlation_id``, in both modes, and that is what the table below joins on.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TypeVar
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin import TabularInline
from django.db.models import Model
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from orders.models import FailedCommand, Order, OrderLine
from shop.admin import ReadOnlyModelAdmin, truncated
from shop.models import MessageLog

#: Rows shown on the order page; the changelist link shows all of them.
MESSAGE_ROWS_SHOWN = 200


_Child = TypeVar("_Child", bound=Model)


class ReadOnlyInline(TabularInline[_Child, Order]):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return False


class OrderLineInline(ReadOnlyInline[OrderLine]):
    model = OrderLine
    fields = ["sku", "product", "quantity", "unit_price"]


class FailedCommandInline(ReadOnlyInline[FailedCommand]):
    model = FailedCommand
    fields = ["created_at", "command", "command_id", "error"]
    readonly_fields = ["created_at"]


def message_log_url(correlation_id: str) -> str:
    """The MessageLog changelist, filtered to one correlation id."""
    return f"{reverse('admin:shop_messagelog_changelist')}?{urlencode({'correlation_id': correlation_id})}"


def _when(moment: datetime) -> str:
    local = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    return date_format(local, "Y-m-d H:i:s.v")


def _outcome(outcome: object) -> str:
    if not outcome:
        return ""
    return truncated(json.dumps(outcome, sort_keys=True, ensure_ascii=False, default=str), 200)


def message_table(correlation_id: str) -> SafeString:
    """An HTML table of the MessageLog rows for one correlation id. Every value is escaped."""
    rows = MessageLog.objects.filter(correlation_id=correlation_id).order_by("created_at", "id")
    total = rows.count()
    see_all = format_html(
        '<p><a href="{}">{} message log row{} for this order in the message log</a></p>',
        message_log_url(correlation_id),
        total,
        "" if total == 1 else "s",
    )
    if not total:
        return format_html("{}<p>No messages recorded for this order.</p>", see_all)
    body = format_html_join(
        "\n",
        '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
        '<td>{}</td><td>{}</td><td title="{}">{}</td><td>{}</td></tr>',
        (
            (
                reverse("admin:shop_messagelog_change", args=[row.pk]),
                _when(row.created_at),
                row.kind,
                row.name,
                row.service,
                row.route,
                row.get_status_display(),
                row.attempts,
                "" if row.duration_ms is None else f"{row.duration_ms:.1f}",
                row.error,
                truncated(row.error, 120),
                _outcome(row.outcome),
            )
            for row in rows[:MESSAGE_ROWS_SHOWN]
        ),
    )
    more = (
        format_html("<p>Showing the first {} of {}.</p>", MESSAGE_ROWS_SHOWN, total)
        if total > MESSAGE_ROWS_SHOWN
        else ""
    )
    return format_html(
        '{}<table class="order-messages"><thead><tr><th>time</th><th>kind</th><th>name</th><th>service</th>'
        "<th>route</th><th>status</th><th>attempts</th><th>duration (ms)</th><th>error</th><th>outcome</th>"
        "</tr></thead><tbody>{}</tbody></table>{}",
        see_all,
        body,
        more,
    )


@admin.register(Order)
class OrderAdmin(ReadOnlyModelAdmin[Order]):
    list_display = ["short_id", "mode", "status", "customer", "total", "risk_score", "placed_at"]
    list_filter = ["mode", "status"]
    list_select_related = ["customer"]
    search_fields = ["id", "customer__name", "customer__email"]
    date_hierarchy = "placed_at"
    readonly_fields = ["id", "placed_at", "updated_at", "messages_caused"]
    fieldsets = [
        (None, {"fields": ["id", "customer", "mode", "status", "total", "placed_at", "updated_at"]}),
        ("Outcome", {"fields": ["reserved_at", "risk_score", "hold_reason", "cancel_reason"]}),
        ("Message log", {"fields": ["messages_caused"]}),
    ]
    inlines = [OrderLineInline, FailedCommandInline]

    @admin.display(description="id", ordering="id")
    def short_id(self, obj: Order) -> str:
        return str(obj.id)[:8]

    @admin.display(description="Messages this order caused")
    def messages_caused(self, obj: Order) -> SafeString:
        return message_table(str(obj.id))


@admin.register(OrderLine)
class OrderLineAdmin(ReadOnlyModelAdmin[OrderLine]):
    list_display = ["order", "sku", "quantity", "unit_price"]
    list_select_related = ["order"]
    search_fields = ["sku", "order__id"]


@admin.register(FailedCommand)
class FailedCommandAdmin(ReadOnlyModelAdmin[FailedCommand]):
    list_display = ["created_at", "command", "order", "short_error"]
    list_filter = ["command"]
    list_select_related = ["order"]
    search_fields = ["command", "command_id", "order__id"]

    @admin.display(description="error", ordering="error")
    def short_error(self, obj: FailedCommand) -> str:
        return truncated(obj.error)
