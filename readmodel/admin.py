"""The read model in the admin: read-only, with its lag on show and a button to rebuild it.

Nobody edits a projection by hand: it is derived from the event store, and a hand-made change
would be silently overwritten by the next event, or contradict the store until the next rebuild.
The remedy for a wrong read model is to fix the projection and rebuild, hence the button.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse

from core.admin import ReadOnlyModelAdmin
from readmodel import selectors, services
from readmodel.models import OrderSummary, ProjectionTracking

CHANGE_LIST_WITH_LAG = "admin/readmodel/change_list.html"


def _with_lag(extra_context: dict[str, Any] | None, **more: Any) -> dict[str, Any]:
    return {**(extra_context or {}), "projection_lag": selectors.lag(), **more}


@admin.register(OrderSummary)
class OrderSummaryAdmin(ReadOnlyModelAdmin[OrderSummary]):
    change_list_template = CHANGE_LIST_WITH_LAG
    list_display = [
        "order_id",
        "customer_name",
        "status",
        "item_count",
        "total",
        "currency",
        "flagged",
        "risk_score",
        "placed_at",
        "shipped_at",
    ]
    list_filter = ["status", "flagged", "currency"]
    search_fields = ["customer_name", "order_id"]

    def get_urls(self) -> list[URLPattern]:
        rebuild = path("rebuild/", self.admin_site.admin_view(self.rebuild_view), name="readmodel_ordersummary_rebuild")
        return [rebuild, *super().get_urls()]

    def has_rebuild_permission(self, request: HttpRequest) -> bool:
        """Staff who may see the read model may rebuild it: it destroys nothing the store lacks."""
        user = request.user
        return bool(user.is_active and user.is_staff and self.has_view_permission(request))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = _with_lag(extra_context, can_rebuild=self.has_rebuild_permission(request))
        return super().changelist_view(request, context)

    def rebuild_view(self, request: HttpRequest) -> HttpResponse:
        """POST only: a rebuild replaces every row, so a link that a crawler follows must not do it."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_rebuild_permission(request):
            raise PermissionDenied
        report = services.rebuild()
        self.message_user(
            request,
            f"Rebuilt {report.streams} order summaries from {report.events} events "
            f"in {report.seconds:.2f} s ({report.rate:,.0f} events/s).",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:readmodel_ordersummary_changelist"))


@admin.register(ProjectionTracking)
class ProjectionTrackingAdmin(ReadOnlyModelAdmin[ProjectionTracking]):
    """Where each projection got to in each stream: editing one would skip or repeat events."""

    change_list_template = CHANGE_LIST_WITH_LAG
    list_display = ["projection", "stream_id", "version", "position", "updated_at"]
    list_filter = ["projection"]
    search_fields = ["stream_id"]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, _with_lag(extra_context))
