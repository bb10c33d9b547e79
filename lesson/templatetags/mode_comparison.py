"""``{% comparison_summary %}``: the admin index's comparison of the two modes.

A template tag because the index is Django's own view: the tag is the one place its template can
ask for data. It only hands the selector's result (lesson/admin_summary.py) to a template, and only
to users who may see orders: the figures are counted from them.
"""

from __future__ import annotations

from typing import Any

from django import template

from lesson import admin_summary

register = template.Library()


@register.inclusion_tag("admin/shop/comparison_summary.html", takes_context=True)
def comparison_summary(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.has_perm("orders.view_order"):
        return {"summary": None}
    return {
        "summary": admin_summary.comparison_summary(),
        "tables": admin_summary.comparison_tables(),
        "can_see": {
            "messages": user.has_perm("shop.view_messagelog"),
            "dead_letters": user.has_perm("shop.view_deadletter"),
            "events": user.has_perm("shop.view_eventrecord"),
        },
    }
