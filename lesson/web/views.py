"""The walkthrough's views: the page, placing an order, the polled timeline, source excerpts.

Who may use it: anyone who can reach the server, like the JSON API under ``/api/`` (which places
orders without a login too). It is a teaching page for a demo database. The POST is
CSRF-protected (Django's middleware; the page sends the token in ``X-CSRFToken``), the admin
pages it links to still require staff, and source excerpts are limited to source files inside
the repository (``lesson.web.excerpts``). README "The web walkthrough" says what it exposes.

Refusals use the API's error shape, ``{"detail": [{"type", "loc", "msg"}]}``, naming the field.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from pydantic import ValidationError

from catalog import selectors as catalog
from lesson.walkthrough.context import display_url
from lesson.web import excerpts, links, timeline, worker
from lesson.web.evidence import comparison_tables
from messaging.celery_adapter.settings import FLOW_MODES
from orders.errors import OrderError
from orders.schemas import OrderIn
from orders.services import MAX_QUANTITY, LineRequest, place_order

#: The page's own script and style sheet, served by ``asset`` (see its docstring).
ASSET_DIR = Path(__file__).resolve().parent.parent / "static" / "web"
ASSETS = {"walkthrough.js": "text/javascript", "walkthrough.css": "text/css"}


@require_GET
def page(request: HttpRequest) -> HttpResponse:
    requested = request.GET.get("mode", "")
    context = {
        "mode": requested if requested in FLOW_MODES else settings.SHOP_FLOW_MODE,
        "modes": FLOW_MODES,
        "customers": catalog.customers(),
        "products": catalog.products(),
        "max_quantity": MAX_QUANTITY,
        "broker": display_url(settings.CELERY_BROKER_URL),
        "embedded": worker.wanted(),
        "admin": {
            "index": reverse("admin:index"),
            "orders": reverse("admin:orders_order_changelist"),
            "command_orders": links.orders_by_mode("command"),
            "event_orders": links.orders_by_mode("event"),
            "messages": reverse("admin:shop_messagelog_changelist"),
            "dead_letters": links.dead_letters(),
        },
    }
    return render(request, "web/walkthrough.html", context)


@require_GET
def tables(request: HttpRequest) -> HttpResponse:
    """The two comparison tables as an HTML fragment, which the page loads after it is shown.

    Measuring reads the whole code base and the message log, which takes a while: the mode
    switch and the order form must not wait for it.
    """
    try:
        context = {"tables": comparison_tables(), "tables_error": ""}
    except ImportError as exc:  # the page stays usable without the evidence module
        context = {"tables": [], "tables_error": f"the evidence module is not available: {exc}"}
    return render(request, "web/_tables.html", context)


@require_POST
def place(request: HttpRequest) -> JsonResponse:
    """Place one order in the mode the page's switch chose; answer where to watch it.

    The body is the API's ``POST /api/orders`` body, validated by the same schema.
    """
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError) as exc:
        return refusal(400, "json_invalid", ["body"], f"the body is not JSON: {exc}")
    try:
        order_in = OrderIn.model_validate(body)
    except ValidationError as exc:
        errors = [{"type": e["type"], "loc": ["body", *e["loc"]], "msg": e["msg"]} for e in exc.errors()]
        return JsonResponse({"detail": errors}, status=422)
    try:
        worker.ensure_started()
    except RuntimeError as exc:
        return refusal(503, "no_worker", [], str(exc))
    try:
        order = place_order(
            customer_id=order_in.user_id,
            items=[LineRequest(product_id=item.product_id, quantity=item.quantity) for item in order_in.items],
            mode=order_in.mode.value if order_in.mode else None,
        )
    except OrderError as exc:
        loc: list[str | int] = ["body", *(int(p) if p.isdigit() else p for p in exc.field.split("."))]
        return refusal(exc.status, "value_error", loc, exc.message)
    return JsonResponse(
        {
            "order": timeline.order_json(order),
            "timeline_url": reverse("walkthrough:timeline", args=[order.id]),
        },
        status=201,
    )


@require_GET
def order_timeline(request: HttpRequest, order_id: uuid.UUID) -> JsonResponse:
    data = timeline.order_timeline(order_id)
    if data is None:
        return refusal(404, "not_found", ["path", "order_id"], f"no order with id {order_id}")
    return JsonResponse(data)


@require_GET
def source(request: HttpRequest) -> JsonResponse:
    """The lines a piece of evidence cites, with a little context; refuses anything but source files
    inside the repository."""
    params = request.GET
    try:
        line = _positive_int(params, "line", None)
        end_line = _positive_int(params, "end_line", line)
        found = excerpts.excerpt(params.get("path", ""), line, end_line, params.get("why", ""))
    except excerpts.RefusedPath as exc:
        return refusal(exc.status, "refused", ["query", exc.field], exc.message)
    return JsonResponse(found.as_json())


def _positive_int(params: Any, name: str, default: int | None) -> int:
    raw = params.get(name)
    if raw is None and default is not None:
        return default
    if raw is None or not str(raw).isdigit() or int(raw) < 1:
        raise excerpts.RefusedPath(name, f"{name} must be a line number (1 or more)")
    return int(raw)


@require_GET
def asset(request: HttpRequest, name: str) -> FileResponse:
    """The page's script and style sheet, served here rather than from STATIC_URL.

    ``runserver`` serves static files only with DEBUG on, and ``make run`` runs with it off:
    the page must work there too, offline, with nothing to collect. Only the named files.
    """
    if name not in ASSETS:
        raise Http404(name)
    response = FileResponse((ASSET_DIR / name).open("rb"), content_type=ASSETS[name])
    response["Cache-Control"] = "no-cache"
    return response


def refusal(status: int, kind: str, loc: list[str | int], message: str) -> JsonResponse:
    return JsonResponse({"detail": [{"type": kind, "loc": loc, "msg": message}]}, status=status)
