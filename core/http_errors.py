"""The API's one error shape, ``{"detail": [{"type", "loc", "msg"}]}``, and how to answer with it.

Defined here, in the composition root, rather than in one app: every app's router answers with
it (orders, the read model, the catalog), the API's boundary middleware answers with it before
any view runs (``core.api_boundary``), and the read model may not import the order service. A
client parses one error format, whoever refused its request (ARCHITECTURE.md §3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.http import JsonResponse
from ninja import Schema
from pydantic import Field

#: The ``type`` of an error that names no input: the HTTP status says what went wrong.
STATUS_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    500: "server_error",
    503: "service_unavailable",
}


class ErrorItem(Schema):
    type: str = Field(
        description="A pydantic error type (string_too_short, missing, ...) for a field that failed validation; "
        "value_error, not_found or conflict from a service's refusal; idempotency_key_reused; or, for an error "
        "about the request as a whole, the status's name: " + ", ".join(sorted(set(STATUS_TYPES.values()))) + "."
    )
    loc: list[str | int] = Field(
        description='Where the input was ("body", "path", "query", "header"), then the field: body.items.0.quantity. '
        "Empty when the error is about the request as a whole (its content type, its size, its path)."
    )
    msg: str
    ctx: dict[str, Any] | None = Field(default=None, description="Validation errors only: the bound hit.")


class ErrorOut(Schema):
    """Every error under /api/: a refused field (422), a service's refusal (404, 409), a request the API
    cannot take (400, 413, 415), a path or method it does not serve (404, 405), the database away (503)."""

    detail: list[ErrorItem]


def error_type(status: int) -> str:
    return STATUS_TYPES.get(status, "http_error")


def error_item(status: int, msg: str, loc: Sequence[str | int] = (), type: str | None = None) -> dict[str, Any]:
    return {"type": type or error_type(status), "loc": list(loc), "msg": msg}


def error_response(status: int, msg: str, loc: Sequence[str | int] = (), type: str | None = None) -> JsonResponse:
    """A JSON error answered outside ninja (the boundary middleware), in the same shape as ninja's."""
    return JsonResponse({"detail": [error_item(status, msg, loc, type)]}, status=status)
