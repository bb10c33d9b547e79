"""Orders in the admin, each with the messages it caused.

Orders change only through the flows (orders/services.py), which also send the messages that
tell or inform the other services; an edit here would send nothing. So the admin shows orders
and never edits them. Its only writes are two actions for staff, releasing or rejecting a held
order, and they go through the same services (orders/review.py) as the staff API.

The message log has no foreign key to orders: every message an order caused carries the
order's id as its ``correlation_id``, in both modes. The order page shows those messages as a
timeline (core/timeline.py, drawn by admin/orders/order/timeline.html): each command or
event, who sent it through which queue or exchange, and every service that handled it, with its
status, attempts and duration.

Event mode keeps the order's history too: its stream in the event store, keyed by the order's id
(``stream_id``). The order page lists the stream, and for each version links to the state at that
version, folded from the stream's first events (``orders.lifecycle.replay``). Command mode
overwrites the row in place, so there is no history to show.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin import TabularInline
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from core.admin import ReadOnlyModelAdmin, truncated
from core.eventstore import store
from core.eventstore.store import StoredEvent
from core.timeline import order_timeline
from messaging.kernel.errors import MessagingError
from orders import lifecycle, review
from orders.errors import OrderError
from orders.models import FailedCommand, FlowMode, IdempotencyKey, Order, OrderLine
from orders.rows import row_state

_Child = TypeVar("_Child", bound=Model)
#: review.release_hold or review.reject_hold
Decision = Callable[..., Order]


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
    # Django's date format has no milliseconds ("v" is printed as is), so add them here.
    return f"{date_format(local, 'Y-m-d H:i:s')}.{local.microsecond // 1000:03d}"


COMMAND_MODE_HISTORY = "command mode: no history is kept; the row is overwritten in place."


def event_store_url(stream_id: str) -> str:
    """The stored-event changelist, filtered to one stream."""
    return f"{reverse('admin:shop_eventrecord_changelist')}?{urlencode({'stream_id': stream_id})}"


def state_url(order: Order, version: int) -> str:
    return reverse("admin:orders_order_state", args=[quote(str(order.pk)), version])


def _schema(event: StoredEvent) -> str:
    if event.schema_version == event.stored_schema_version:
        return f"v{event.schema_version}"
    return f"v{event.stored_schema_version}, read as v{event.schema_version}"


def event_table(order: Order) -> SafeString:
    """An HTML table of the order's stream, one row per stored event. Every value is escaped."""
    if order.mode != FlowMode.EVENT:
        return format_html("<p>{}</p>", COMMAND_MODE_HISTORY)
    stream_id = str(order.id)
    try:
        events = store.read_stream(stream_id)
    except MessagingError as exc:  # an event no contract can read any more: say so, do not crash
        return format_html("<p>The stream cannot be read: {}</p>", exc)
    see_all = format_html(
        '<p><a href="{}">{} stored event{} in stream {}</a>; the order row is at version {}.</p>',
        event_store_url(stream_id),
        len(events),
        "" if len(events) == 1 else "s",
        stream_id,
        order.version,
    )
    if not events:
        return format_html("{}<p>No events stored for this order.</p>", see_all)
    body = format_html_join(
        "\n",
        '<tr><td>{}</td><td><a href="{}">#{}</a></td><td>{}</td><td>{}</td><td>{}</td>'
        '<td title="{}">{}</td><td><a href="{}">state at v{}</a></td></tr>',
        (
            (
                event.version,
                reverse("admin:shop_eventrecord_change", args=[event.position]),
                event.position,
                event.type,
                _schema(event),
                _when(event.recorded_at),
                _json(event.data),
                truncated(_json(event.data), 120),
                state_url(order, event.version),
                event.version,
            )
            for event in events
        ),
    )
    return format_html(
        '{}<table class="order-events"><thead><tr><th>version</th><th>position</th><th>type</th>'
        "<th>schema</th><th>recorded</th><th>data (as read)</th><th>state</th></tr></thead>"
        "<tbody>{}</tbody></table>",
        see_all,
        body,
    )


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _shown(value: Any) -> str:
    """A state value as the state page shows it."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        return _when(value)
    return str(value)


@admin.register(Order)
class OrderAdmin(ReadOnlyModelAdmin[Order]):
    list_display = ["short_id", "mode", "status", "customer", "total", "risk_score", "placed_at"]
    list_filter = ["mode", "status"]
    list_select_related = ["customer"]
    search_fields = ["id", "customer__name", "customer__email"]
    date_hierarchy = "placed_at"
    readonly_fields = ["id", "placed_at", "updated_at", "event_stream"]
    fieldsets = [
        (None, {"fields": ["id", "customer", "mode", "status", "total", "placed_at", "updated_at"]}),
        ("Outcome", {"fields": ["reserved_at", "risk_score", "hold_reason", "cancel_reason"]}),
        ("Review of a hold", {"fields": ["authorized_at", "reviewed_by", "reviewed_at"]}),
        ("History (event store)", {"fields": ["event_stream"]}),
    ]
    inlines = [OrderLineInline, FailedCommandInline]
    change_form_template = "admin/orders/order/change_form.html"
    actions = ["release_holds", "reject_holds"]

    def has_review_permission(self, request: HttpRequest) -> bool:
        """Releasing or rejecting a hold is a staff decision (the staff API checks the same)."""
        return bool(request.user.is_active and request.user.is_staff)

    @admin.action(description="Release the selected held orders (confirm them)", permissions=["review"])
    def release_holds(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        self._review(request, queryset, review.release_hold, "released")

    @admin.action(
        description="Reject the selected held orders (cancel, release stock, void payment)", permissions=["review"]
    )
    def reject_holds(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        self._review(request, queryset, review.reject_hold, "rejected")

    def _review(self, request: HttpRequest, queryset: QuerySet[Order], decide: Decision, verb: str) -> None:
        """Each order in its own transaction, through the same service as the staff API; an order
        that is not on hold is named and left alone."""
        done, refused = 0, []
        for order_id in queryset.values_list("id", flat=True):
            try:
                decide(order_id, reviewed_by=request.user.get_username())
            except OrderError as exc:
                refused.append(f"{str(order_id)[:8]}: {exc.message}")
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} held order{'s' if done != 1 else ''} {verb}.", messages.SUCCESS)
        if refused:
            self.message_user(request, f"Not {verb}: {'; '.join(refused)}", messages.WARNING)

    @admin.display(description="id", ordering="id")
    def short_id(self, obj: Order) -> str:
        return str(obj.id)[:8]

    @admin.display(description="Event stream")
    def event_stream(self, obj: Order) -> SafeString:
        return event_table(obj)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Order | None = None,
    ) -> HttpResponse:
        """Adds the order's timeline, which the change form template draws after the fields."""
        if obj is not None:
            context["timeline"] = order_timeline(str(obj.id), start=obj.placed_at)
            context["message_log_url"] = message_log_url(str(obj.id))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self) -> list[URLPattern]:
        # Before the defaults: their "<path:object_id>/" catch-all would match first.
        state = path(
            "<path:object_id>/state/<int:version>/",
            self.admin_site.admin_view(self.state_view),
            name="orders_order_state",
        )
        return [state, *super().get_urls()]

    def state_view(self, request: HttpRequest, object_id: str, version: int) -> HttpResponse:
        """The order as it was at ``version``: its stream's first ``version`` events, folded."""
        order = self.get_object(request, unquote(object_id))
        if order is None:
            raise Http404(f"no order with id {object_id}")
        if not self.has_view_permission(request, order):
            raise PermissionDenied
        if order.mode != FlowMode.EVENT:
            raise Http404(COMMAND_MODE_HISTORY)
        events = store.read_stream(str(order.id), until_version=version)
        if not events or events[-1].version != version:
            raise Http404(f"the stream of order {order.id} has no version {version}")
        state = lifecycle.replay((event.type, event.data) for event in events)
        row = row_state(order)
        latest = store.stream_version(str(order.id))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{order} at version {version} of {latest}",
            "order": order,
            "version": version,
            "latest": latest,
            "state": state,
            "fields": [(key, _shown(state.get(key)), _shown(row.get(key))) for key in {**state, **row}],
            "events": [
                {
                    "version": event.version,
                    "type": event.type,
                    "schema": _schema(event),
                    "recorded_at": _when(event.recorded_at),
                    "data": _json(event.data),
                }
                for event in events
            ],
            "change_url": reverse("admin:orders_order_change", args=[quote(str(order.pk))]),
            "previous_url": state_url(order, version - 1) if version > 1 else None,
            "next_url": state_url(order, version + 1) if version < latest else None,
        }
        return TemplateResponse(request, "admin/orders/order/state.html", context)


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


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyModelAdmin[IdempotencyKey]):
    list_display = ["created_at", "key", "order"]
    list_select_related = ["order"]
    search_fields = ["key", "order__id"]


# Sagas have their own admin module (command mode only).
from orders import saga_admin  # noqa: E402, F401
