"""What every request under ``/api/`` is held to before a view runs, and JSON for every error there.

Why a middleware and not ninja: ninja answers only what reaches one of its operations. A path it
does not serve is Django's 404 page, a method it does not serve is ninja's bare ``405 Method not
allowed`` in text, a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is Django's 400 page: HTML, to a
client that parses JSON. And a view that takes JSON must not be reachable by a plain HTML form
(``text/plain``, form-encoded, multipart: browsers send those cross-site without asking), so the
content type is checked before the view, for every operation that takes a body.

- A ``POST``/``PUT``/``PATCH`` to an operation that takes that method: a body larger than
  ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is 413, and a ``Content-Type`` other than ``application/json``
  (``charset=utf-8`` allowed; none at all counts as other, even with no body) is 415. A method
  the path does not serve is left to ninja's 405, so the 405 says which methods it serves.
- Any error response under ``/api/`` that is not JSON is answered again in the API's error shape
  (``core.http_errors``), with the same status and headers (``Allow`` on a 405).

Outside ``/api/`` (the admin, the walkthrough) nothing changes: Django's own pages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.http import parse_header_parameters

from core.http_errors import error_response

API_PREFIX = "/api/"
#: Methods whose requests carry a body the API reads as JSON.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
JSON = "application/json"

#: Headers an error keeps when it is answered again as JSON.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")
#: A Django route's converters, ``<id>`` or ``<uuid:id>``, as OpenAPI's ``{id}``.
_CONVERTER = re.compile(r"<(?:[^>:]+:)?([^>]+)>")


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def body_limit() -> int | None:
    """The largest body the API reads, in bytes: Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (None: no limit)."""
    limit: int | None = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return limit


def unsupported_content_type(request: HttpRequest) -> str | None:
    """Why the request's content type is not JSON, or None if it is."""
    raw = request.META.get("CONTENT_TYPE", "")
    if not raw.strip():
        return f"a body needs Content-Type: {JSON}; the request sent none"
    media_type, params = parse_header_parameters(raw)
    if media_type.lower() != JSON:
        return f"a body needs Content-Type: {JSON}, not {media_type or raw!r}"
    extra = sorted(set(params) - {"charset"})
    if extra:
        return f"{JSON} takes only a charset parameter, not {', '.join(extra)}"
    charset = params.get("charset", "utf-8").lower()
    if charset not in {"utf-8", "utf8"}:
        return f"JSON is read as UTF-8: send {JSON} or {JSON}; charset=utf-8, not charset={charset}"
    return None


def content_length(request: HttpRequest) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def openapi_path(route: str) -> str:
    """Django's ``api/orders/<id>/pay`` (the matched route) as the document's ``/api/orders/{id}/pay``."""
    return "/" + _CONVERTER.sub(r"{\1}", route)


#: The API's OpenAPI document, handed over by api/site.py when it builds the API (``serve``).
#: Importing api.site from here instead would close an import circle: api.site mounts the
#: routers, whose document helpers (core/openapi.py) read this module's limits.
_documents: list[Callable[[], dict[str, Any]]] = []


def serve(document: Callable[[], dict[str, Any]]) -> None:
    """Called once by api/site.py with its ``get_openapi_schema``."""
    _documents[:] = [document]
    documented_methods.cache_clear()


@cache
def documented_methods() -> dict[str, frozenset[str]]:
    """Each path of the API's OpenAPI document, with the methods it serves (upper case).

    Ninja builds its routes and its document from the same operations, so the document says
    which methods a matched route serves without reaching into ninja's view objects. A request
    reaches the middleware's view hook only after URL resolution imported shop.urls, and so
    api.site, which has served its document by then."""
    if not _documents:
        raise RuntimeError("api.site has not served its OpenAPI document to the API boundary")
    paths: dict[str, dict[str, Any]] = _documents[0]()["paths"]
    return {path: frozenset(method.upper() for method in methods) for path, methods in paths.items()}


def takes(request: HttpRequest) -> bool:
    """Whether the resolved route serves the request's method (else ninja answers 405)."""
    match = request.resolver_match
    if match is None:
        return False
    return request.method in documented_methods().get(openapi_path(match.route), frozenset())


def as_json(request: HttpRequest, response: HttpResponseBase) -> HttpResponse:
    """A non-JSON error from Django or ninja, said again in the API's error shape."""
    status = response.status_code
    if status == 404:
        msg = f"nothing at {request.path}: see /api/docs for the API's paths"
    elif status == 405:
        allowed = response.get("Allow", "")
        msg = f"{request.method} is not served at {request.path}; it serves: {allowed}"
    elif status >= 500:
        msg = "the server failed to answer this request; it has been logged"
    else:
        msg = getattr(response, "reason_phrase", "") or "the request was refused"
    answer = error_response(status, msg)
    for header in _KEPT_HEADERS:
        if header in response:
            answer[header] = response[header]
    return answer


class ApiBoundaryMiddleware:
    """Refuses what no API view should read (413, 415), and answers every API error in JSON."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if is_api(request) and response.status_code >= 400 and not _is_json(response):
            return as_json(request, response)
        return response

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        if request.method not in BODY_METHODS or not is_api(request) or not takes(request):
            return None
        limit = body_limit()
        if limit is not None and content_length(request) > limit:
            return error_response(413, f"the body is {content_length(request)} bytes; the API reads at most {limit}")
        why = unsupported_content_type(request)
        if why is not None:
            return error_response(415, why)
        return None


def _is_json(response: HttpResponseBase) -> bool:
    media_type, _ = parse_header_parameters(response.get("Content-Type", ""))
    return media_type.lower() == JSON
