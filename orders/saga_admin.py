"""The admin's view of command mode's sagas: state, step history, and which are stuck.

Event mode has no saga rows: nobody holds that flow. Its run is reconstructed from the
messages' correlation id, in the order's timeline (orders/admin.py), which shows the same
steps as a chain of events from different services.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from core.admin import ReadOnlyModelAdmin
from orders import saga
from orders.models import Saga


class StuckFilter(admin.SimpleListFilter):
    title = "stuck"
    parameter_name = "stuck"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Saga]) -> list[tuple[str, str]]:
        return [("yes", "running past its deadline")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Saga]) -> QuerySet[Saga]:
        if self.value() == "yes":
            return queryset.filter(state=Saga.State.RUNNING, deadline__lt=timezone.now())
        return queryset


@admin.register(Saga)
class SagaAdmin(ReadOnlyModelAdmin[Saga]):
    list_display = ["order_link", "state", "current_step", "steps", "is_stuck", "deadline", "updated_at"]
    list_filter = ["state", StuckFilter]
    search_fields = ["order__id"]
    readonly_fields = (
        "order_link",
        "state",
        "current_step",
        "steps_done",
        "compensating",
        "compensations",
        "failure",
        "deadline",
        "is_stuck",
        "step_history",
    )
    fields = readonly_fields

    @admin.display(description="order")
    def order_link(self, obj: Saga) -> SafeString:
        return format_html('<a href="../../order/{}/change/">{}</a>', obj.order_id, str(obj.order_id)[:8])

    @admin.display(description="steps done")
    def steps(self, obj: Saga) -> str:
        return " → ".join(obj.steps_done) or "-"

    @admin.display(description="stuck", boolean=True)
    def is_stuck(self, obj: Saga) -> bool:
        """Running past its deadline: the timer that should have ended it has not fired (the
        relay is down, or its orders worker is). The order waits; nothing is lost."""
        return saga.stuck(obj)

    @admin.display(description="step history")
    def step_history(self, obj: Saga) -> SafeString:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((e.get("at", ""), e.get("step", ""), e.get("outcome", ""), e.get("detail", "")) for e in obj.history),
        )
        return format_html(
            "<table><thead><tr><th>at</th><th>step</th><th>outcome</th><th>detail</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )
