"""The JSON API root. Each app contributes a router; OpenAPI is served at /api/docs.

The order detail (``GET /api/orders/{id}``) is the project's own router (``api.order_detail``):
it composes the order service's write model and event store with the read model and the message
log, which no single app may import all of.

Every refusal, whether ninja's own schema validation or a service's ``OrderError``, is answered
as ``{"detail": [{"type", "loc", "msg"}]}`` (``core.http_errors.ErrorOut``), so a client parses
one error format only. What never reaches a view (an unknown path, a method the path does not
serve, a body too large or not JSON) is answered in the same shape by ``core.api_boundary``, and
``core.openapi`` documents all of it on every operation it applies to.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja.errors import AuthenticationError, HttpError, ValidationError

from api.order_detail import router as order_detail_router
from catalog.api import router as catalog_router
from core.api_boundary import body_limit
from core.api_boundary import serve as serve_document
from core.http_errors import error_item
from core.openapi import ShopAPI
from core.transient import is_transient, reset_connections
from orders.api import router as orders_router
from orders.errors import OrderError
from orders.review_api import router as review_router
from readmodel.api import router as readmodel_router

logger = logging.getLogger("api.site")

api = ShopAPI(
    title="Shop order flows",
    version="1",
    urls_namespace="api",
    description='One order flow, in command mode and in event mode (README.md, "The HTTP API").',
)
api.add_router("/", catalog_router)
api.add_router("/", orders_router)
api.add_router("/", review_router)
api.add_router("/", order_detail_router)
api.add_router("/", readmodel_router)
# The boundary middleware reads which methods each path serves from the document.
serve_document(api.get_openapi_schema)

# Views name their JSON body parameter this; it is an implementation detail, not client input.
BODY_PARAM = "payload"

#: The error ``type`` a service's refusal gets, by its HTTP status (422 and others: value_error).
_ERROR_TYPES = {404: "not_found", 409: "conflict"}


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """Ninja's own 422, with the view's parameter name dropped from ``loc``.

    Ninja reports a bad quantity at ``["body", "payload", "items", 0, "quantity"]``; the client
    never sent a "payload" key, and the service's errors say ``["body", "items", 0, ...]``.
    """
    errors = [{**error, "loc": _client_loc(error["loc"])} for error in exc.errors]
    return api.create_response(request, {"detail": errors}, status=422)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    """Ninja's other refusals (a body that is not JSON: 400; a failed authentication: 401) in the
    same list shape, naming no field."""
    return api.create_response(request, {"detail": [error_item(exc.status_code, exc.message)]}, status=exc.status_code)


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    """A view's ``get_object_or_404``: ninja's own answer is ``{"detail": "Not Found"}``, not the list."""
    return api.create_response(request, {"detail": [error_item(404, str(exc) or "not found")]}, status=404)


@api.exception_handler(SuspiciousOperation)
def unreadable_request(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    """A request Django refuses to read (more query parameters than DATA_UPLOAD_MAX_NUMBER_FIELDS;
    a body over DATA_UPLOAD_MAX_MEMORY_SIZE, which the boundary middleware normally refuses first):
    Django's answer would be its HTML 400 page."""
    if isinstance(exc, RequestDataTooBig):
        item = error_item(413, f"the body is larger than {body_limit()} bytes, the most the API reads")
        return api.create_response(request, {"detail": [item]}, status=413)
    logger.warning("%s %s: refused (%s: %s)", request.method, request.path, type(exc).__name__, exc)
    item = error_item(400, f"the request could not be read: {exc}")
    return api.create_response(request, {"detail": [item]}, status=400)


@api.exception_handler(AuthenticationError)
def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    """A staff endpoint without valid credentials: 401, asking for HTTP Basic."""
    error = {"type": "not_authenticated", "loc": ["header", "Authorization"], "msg": "staff credentials required"}
    response = api.create_response(request, {"detail": [error]}, status=401)
    response["WWW-Authenticate"] = 'Basic realm="shop staff"'
    return response


@api.exception_handler(OrderError)
def order_error(request: HttpRequest, exc: OrderError) -> HttpResponse:
    """A service refused the request: name the field, where it came from, and why."""
    error = error_item(exc.status, exc.message, _loc(request, exc.field), _ERROR_TYPES.get(exc.status, "value_error"))
    return api.create_response(request, {"detail": [error]}, status=exc.status)


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def database_unavailable(request: HttpRequest, exc: DatabaseError) -> HttpResponse:
    """The database is away for a moment (a cut connection, a restart, "too many clients"):
    503 with ``Retry-After``, in the API's error shape, and a fresh connection for the next
    request. A client retrying ``POST /api/orders`` with the same ``Idempotency-Key`` places the
    order once. Any other database error is a bug: a 500."""
    if not is_transient(exc):
        raise exc
    logger.warning(
        "%s %s: the database is unavailable (%s: %s); 503", request.method, request.path, type(exc).__name__, exc
    )
    reset_connections()
    error = error_item(503, "the database is unavailable for a moment; try again")
    response = api.create_response(request, {"detail": [error]}, status=503)
    response["Retry-After"] = "1"
    return response


def _client_loc(loc: Sequence[Any]) -> list[Any]:
    parts = list(loc)
    if parts[:2] == ["body", BODY_PARAM]:
        return ["body", *parts[2:]]
    return parts


def _loc(request: HttpRequest, field: str) -> list[str | int]:
    """Turn the service's dotted field ("items.0.product_id") into a loc like ninja's.

    The first element says where the input came from, as in ninja's errors: "path" for a URL
    parameter, "query" for a query-string parameter, "body" for a key the client sent. A field
    that is none of these (an order's ``status`` in a 409) is the resource's own state and is
    named without a source.
    """
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in field.split(".")]
    head = parts[0]
    match = request.resolver_match
    if match is not None and head in match.kwargs:
        return ["path", *parts]
    if head in request.GET:
        return ["query", *parts]
    if head in _json_body(request):
        return ["body", *parts]
    return parts


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}
