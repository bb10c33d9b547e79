"""The OpenAPI document says what the server does: every status an operation can answer, and how
an order's id leads from one operation to the next.

Ninja documents what each view declares. What the API does around the views it cannot know:
the boundary middleware's 413 and 415 (``core.api_boundary``), the 400 of a body that is not
JSON, the 503 of a database away for a moment (``api.site``), the 404 of an id nobody has. So
``complete`` adds those to every operation they apply to, from the operation's own shape (its
method, its parameters, its body), never from a list of endpoints: an endpoint added later gets
them too. ``tests/unit/test_openapi.py`` walks the document and provokes each one.

It also adds OpenAPI links (an order's ``id`` from any answer that carries one, to every
operation under ``/api/orders/{id}``), so a client generator, or schemathesis's stateful phase,
can follow an order from ``POST /api/orders`` through pay, pack and ship.
"""

from __future__ import annotations

import copy
from typing import Any

from ninja import NinjaAPI
from ninja.openapi.schema import OpenAPISchema

from core.api_boundary import BODY_METHODS, JSON, body_limit
from core.http_errors import ErrorOut

ERROR_REF = "#/components/schemas/ErrorOut"


def limits_text() -> str:
    """The limits every operation shares, as the API's description says them."""
    limit = body_limit()
    size = "no size limit" if limit is None else f"at most {limit:,} bytes (Django's DATA_UPLOAD_MAX_MEMORY_SIZE)"
    return (
        f"JSON in, JSON out. A request body must be sent as `Content-Type: {JSON}` (`charset=utf-8` allowed), "
        "even when it is empty: anything else, or no Content-Type at all, is 415, so an HTML form on another "
        f"site cannot use the API. A body is read only up to {size}; a larger one is 413.\n\n"
        'Every error under /api/ is JSON, `{"detail": [{"type", "loc", "msg"}]}` (ErrorOut): 400 a body that '
        "is not JSON, 404 an unknown id or path, 405 a method the path does not serve (its `Allow` header lists "
        "those it does), 409 a change the order's state does not allow, 413 and 415 as above, 422 a parameter "
        "or field out of its bounds (`loc` names it), 503 the database away for a moment (retry after "
        "`Retry-After` seconds). One exception: a request line (method, path and query string) over "
        f"{REQUEST_LINE_LIMIT:,} bytes never reaches the API; gunicorn answers it 414, in HTML."
    )


#: gunicorn's limit on the request line (gunicorn.conf.py): past it, gunicorn answers 414 itself.
REQUEST_LINE_LIMIT = 8190

#: The one error the API cannot answer in JSON: gunicorn refuses an over-long request line before
#: Django sees the request. Documented as what it is, an HTML page.
URI_TOO_LONG = {
    "description": f"The request line (method, path and query) is over {REQUEST_LINE_LIMIT:,} bytes: gunicorn, in "
    "front of the API, refuses it with an HTML page of its own.",
    "content": {"text/html": {"schema": {"type": "string"}}},
}


def common_errors(method: str, operation: dict[str, Any]) -> dict[int, str]:
    """The statuses an operation can answer whatever its view does, each with why."""
    where = {parameter["in"] for parameter in operation.get("parameters", [])}
    has_body = "requestBody" in operation
    errors = {503: "The database is unavailable for a moment: retry after `Retry-After` seconds."}
    unreadable = [
        *(["The body is not JSON (or not UTF-8)."] if has_body else []),
        *(["More query parameters than Django reads (DATA_UPLOAD_MAX_NUMBER_FIELDS)."] if "query" in where else []),
    ]
    if unreadable:
        errors[400] = " ".join(unreadable)
    if method.upper() in BODY_METHODS:
        limit = body_limit()
        if limit is not None:
            errors[413] = f"The body is larger than {limit:,} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)."
        errors[415] = f"The Content-Type is not {JSON} (charset=utf-8 allowed), or there is none."
    if where or has_body:
        errors[422] = "A parameter or a body field is invalid: `loc` names it, `msg` says why."
    if "path" in where:
        errors[404] = "No such resource: nothing has this id."
    if operation.get("security"):
        errors[401] = "Not authenticated."
        errors[403] = "Authenticated, but not allowed to do this."
    return errors


def complete(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the common errors, the limits and the links to a document ninja generated (in place)."""
    _ensure_error_schema(schema)
    for methods in schema["paths"].values():
        for method, operation in methods.items():
            responses = operation["responses"] = _by_status_text(operation.get("responses", {}))
            for status, description in common_errors(method, operation).items():
                _document_error(responses, status, description)
            responses.setdefault("414", copy.deepcopy(URI_TOO_LONG))
            if method.upper() in BODY_METHODS and "requestBody" not in operation:
                operation["requestBody"] = copy.deepcopy(UNREAD_BODY)
    add_links(schema)
    info = schema.setdefault("info", {})
    info["description"] = "\n\n".join(part for part in (info.get("description"), limits_text()) if part)
    return schema


#: The body of a POST that reads none (cancel): the Content-Type is checked all the same (415),
#: so the document asks for one. Not ``required: false``: a client or a generator that leaves an
#: optional body out sends no Content-Type, which is refused. Any JSON passes: none of it is read.
UNREAD_BODY = {
    "required": True,
    "description": f"Not read: send `{{}}` (an empty body is fine too) as `Content-Type: {JSON}`, which is required "
    "all the same, so that no HTML form on another site can make this request.",
    "content": {JSON: {"schema": {"description": "Anything: it is not read.", "examples": [{}]}}},
}


def add_links(schema: dict[str, Any]) -> None:
    """Link every answer that carries a resource's id to the operations on that resource.

    A 2xx whose body has an ``id`` (an order), or ``items`` of them (a page of orders), links to
    each operation with an ``{id}`` path parameter under the same collection: from
    ``POST /api/orders``'s 201 to ``/api/orders/{id}``, ``.../pay``, ``.../cancel``... An operation
    that declares the status it leaves (``x-status-after``) links only to those allowed from it
    (``x-allowed-from``): pay's 200 to pack, pack's 200 to ship.
    """
    operations = [(path, operation) for path, methods in schema["paths"].items() for operation in methods.values()]
    targets = [(path, operation) for path, operation in operations if "{id}" in path and "operationId" in operation]
    for path, operation in operations:
        for status, response in operation.get("responses", {}).items():
            pointer = _id_pointer(schema, response) if str(status).startswith("2") else None
            if pointer is None:
                continue
            links = {
                target["operationId"]: {
                    "operationId": target["operationId"],
                    "parameters": {"id": f"$response.body#{pointer}"},
                    "description": f"The id in this answer's `{pointer}`, as {target_path}'s `id`.",
                }
                for target_path, target in targets
                if _collection(target_path) == _collection(path) and _may_follow(operation, target)
            }
            if links:
                response.setdefault("links", {}).update(links)


def _by_status_text(responses: dict[Any, Any]) -> dict[str, Any]:
    """Responses keyed by the status as text, as JSON has it. Ninja keys its own by int, and an
    ``openapi_extra`` adds text keys: the two entries for one status are merged, the text one on top."""
    merged: dict[str, Any] = {}
    for status in sorted(responses, key=lambda status: isinstance(status, str)):
        merged[str(status)] = {**merged.get(str(status), {}), **responses[status]}
    return merged


#: Extensions an operation may declare (``openapi_extra``) to say what it does to a resource's status:
#: the status its 2xx leaves the resource in, and the statuses it is allowed from.
STATUS_AFTER = "x-status-after"
ALLOWED_FROM = "x-allowed-from"


def _may_follow(producer: dict[str, Any], target: dict[str, Any]) -> bool:
    """Whether ``target`` can follow ``producer``'s answer: unless both say otherwise, it can.

    ``POST /api/orders`` leaves an order placed, and ``pack`` is allowed from paid only: no link.
    A link that could never be followed would only teach a client (or a fuzzer) a dead end."""
    after, allowed = producer.get(STATUS_AFTER), target.get(ALLOWED_FROM)
    return after is None or allowed is None or after in allowed


def _collection(path: str) -> str:
    """``/api/orders`` for ``/api/orders``, ``/api/orders/{id}`` and ``/api/orders/{id}/pay``."""
    return path.split("/{id}", 1)[0]


def _id_pointer(schema: dict[str, Any], response: dict[str, Any]) -> str | None:
    """Where an answer carries a resource's id: ``/id``, or ``/items/0/id`` for a page; else None."""
    body = _resolve(schema, response.get("content", {}).get(JSON, {}).get("schema", {}))
    properties = body.get("properties", {})
    if "id" in properties:
        return "/id"
    items = _resolve(schema, properties.get("items", {}))
    if items.get("type") == "array" and "id" in _resolve(schema, items.get("items", {})).get("properties", {}):
        return "/items/0/id"
    return None


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/components/schemas/"):
        return node
    resolved: dict[str, Any] = schema.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[1], {})
    return resolved


def _document_error(responses: dict[str, Any], status: int, description: str) -> None:
    """Declare ``status`` with the error shape; a view's own declaration keeps its schema."""
    response = responses.setdefault(str(status), {})
    if response.get("description") in (None, "", *_NINJA_DESCRIPTIONS):
        response["description"] = description
    response.setdefault("content", {JSON: {"schema": {"$ref": ERROR_REF}}})
    if status == 503:
        response.setdefault("headers", {})["Retry-After"] = {
            "description": "Seconds to wait before retrying.",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }


#: The generic descriptions ninja gives a declared status; a more precise one replaces them.
_NINJA_DESCRIPTIONS = ("Bad Request", "Not Found", "Unprocessable Entity", "Service Unavailable")


def _ensure_error_schema(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "ErrorOut" in components:
        return
    generated = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(generated.pop("$defs", {}))
    components["ErrorOut"] = generated


class ShopAPI(NinjaAPI):
    """Ninja's API, whose document is completed by ``complete`` each time it is generated."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        complete(schema)
        return schema
