"""The OpenAPI document lists every status each operation can answer (core/openapi.py).

Two ways, both walking the document the server serves, so an operation added later is held to
the same rules without touching this file:

- by its shape: an operation with a body documents 400, 413, 415 and 422; one with a path
  parameter 404; every one 503 (with ``Retry-After``); every error with the API's error shape;
- by asking the server: for each operation, requests that break it in each generic way (an id
  nobody has, an id that is not one, a body that is not JSON, too large, not declared JSON, a bad
  query value, too many query parameters) must each get a status the operation documents.
"""

from __future__ import annotations

import json
import re
import runpy
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

from api.site import api
from core.api_boundary import documented_methods, openapi_path
from core.openapi import REQUEST_LINE_LIMIT, UNREAD_BODY
from tests.fakes import RecordingTransport

pytestmark = pytest.mark.django_db

DOCUMENT: dict[str, Any] = json.loads(json.dumps(api.get_openapi_schema()))
OPERATIONS = [
    pytest.param(path, method, operation, id=f"{method.upper()} {path}")
    for path, methods in DOCUMENT["paths"].items()
    for method, operation in methods.items()
]
ERROR_REF = "#/components/schemas/ErrorOut"


def statuses(operation: dict[str, Any]) -> set[int]:
    return {int(status) for status in operation["responses"]}


def where(operation: dict[str, Any]) -> set[str]:
    return {parameter["in"] for parameter in operation.get("parameters", [])}


def reads_body(operation: dict[str, Any]) -> bool:
    return "requestBody" in operation and operation["requestBody"] != UNREAD_BODY


# --- by the operation's shape --------------------------------------------------------------


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS)
def test_every_operation_documents_the_statuses_its_shape_allows(
    path: str, method: str, operation: dict[str, Any]
) -> None:
    expected = {414, 503}
    if reads_body(operation):
        expected |= {400, 422}
    if method == "post":
        expected |= {413, 415}
    if where(operation):
        expected |= {422}
    if "query" in where(operation):
        expected |= {400}
    if "path" in where(operation):
        expected |= {404}
    if operation.get("security"):
        expected |= {401, 403}

    assert expected <= statuses(operation), f"{method.upper()} {path} lacks {sorted(expected - statuses(operation))}"


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS)
def test_every_error_is_documented_with_the_error_shape(path: str, method: str, operation: dict[str, Any]) -> None:
    for status, response in operation["responses"].items():
        assert response["description"], status
        if int(status) < 400 or status == "414":
            continue
        assert response["content"] == {"application/json": {"schema": {"$ref": ERROR_REF}}}, (status, response)
    assert operation["responses"]["503"]["headers"]["Retry-After"]["required"] is True


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS)
def test_the_one_error_not_in_json_is_documented_as_html(path: str, method: str, operation: dict[str, Any]) -> None:
    """gunicorn refuses an over-long request line itself, before Django: a 414 page in HTML."""
    assert list(operation["responses"]["414"]["content"]) == ["text/html"]


def test_the_documented_request_line_limit_is_gunicorns() -> None:
    config = runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py"))
    assert config["limit_request_line"] == REQUEST_LINE_LIMIT == 8190
    assert "8,190 bytes" in DOCUMENT["info"]["description"]


@pytest.mark.parametrize(("path", "method", "operation"), [op for op in OPERATIONS if op.values[1] == "post"])
def test_every_post_asks_for_a_json_body(path: str, method: str, operation: dict[str, Any]) -> None:
    """Even one that reads none (cancel): the Content-Type is required all the same (415)."""
    body = operation["requestBody"]
    assert body["required"] is True
    assert list(body["content"]) == ["application/json"]


def test_the_error_shape_is_one_component() -> None:
    error = DOCUMENT["components"]["schemas"]["ErrorOut"]
    item = DOCUMENT["components"]["schemas"]["ErrorItem"]
    assert error["required"] == ["detail"]
    assert set(item["required"]) == {"type", "loc", "msg"}


def test_the_description_states_the_api_wide_rules() -> None:
    description = DOCUMENT["info"]["description"]
    for rule in ("application/json", "415", "413", "2,621,440 bytes", "405", "Allow", "ErrorOut", "Retry-After"):
        assert rule in description, rule


def test_the_limits_the_server_enforces_are_in_the_document() -> None:
    """The bounds schemathesis found unstated: min_total's digits, a page's size, an offset."""
    dashboard = {p["name"]: p["schema"] for p in DOCUMENT["paths"]["/api/dashboard"]["get"]["parameters"]}
    assert dashboard["min_total"]["anyOf"][0]["pattern"] == r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
    orders = {p["name"]: p["schema"] for p in DOCUMENT["paths"]["/api/orders"]["get"]["parameters"]}
    assert (orders["limit"]["minimum"], orders["limit"]["maximum"]) == (1, 100)
    assert (orders["offset"]["minimum"], orders["offset"]["maximum"]) == (0, 2**31 - 1)
    state = {p["name"]: p["schema"] for p in DOCUMENT["paths"]["/api/orders/{id}/state"]["get"]["parameters"]}
    assert state["version"]["anyOf"][0]["minimum"] == 1


# --- links ---------------------------------------------------------------------------------


def links(path: str, method: str, status: str) -> dict[str, Any]:
    found: dict[str, Any] = DOCUMENT["paths"][path][method]["responses"][status].get("links", {})
    return found


def operation_id(path: str, method: str) -> str:
    found: str = DOCUMENT["paths"][path][method]["operationId"]
    return found


def test_a_placed_order_links_to_what_it_allows_and_so_on_to_ship() -> None:
    pay, pack, ship, cancel = (
        operation_id(f"/api/orders/{{id}}/{a}", "post") for a in ("pay", "pack", "ship", "cancel")
    )
    detail, state = operation_id("/api/orders/{id}", "get"), operation_id("/api/orders/{id}/state", "get")

    placed = links("/api/orders", "post", "201")
    assert set(placed) == {pay, cancel, detail, state}
    assert placed[pay]["parameters"] == {"id": "$response.body#/id"}
    assert pack in links("/api/orders/{id}/pay", "post", "200")
    assert ship in links("/api/orders/{id}/pack", "post", "200")
    assert set(links("/api/orders/{id}/ship", "post", "200")) == {detail, state}
    assert set(links("/api/orders/{id}/cancel", "post", "200")) == {detail, state}
    # A page of orders, and one order's detail, may hold an order in any status: every link.
    assert {pay, pack, ship, cancel, detail, state} <= set(links("/api/orders", "get", "200"))
    assert links("/api/orders", "get", "200")[ship]["parameters"] == {"id": "$response.body#/items/0/id"}
    assert {pay, pack, ship, cancel} <= set(links("/api/orders/{id}", "get", "200"))


def test_every_link_names_an_operation_of_the_document() -> None:
    operations = [operation for methods in DOCUMENT["paths"].values() for operation in methods.values()]
    ids = {operation["operationId"] for operation in operations}
    for operation in operations:
        for response in operation["responses"].values():
            for link in response.get("links", {}).values():
                assert link["operationId"] in ids


# --- by asking the server ------------------------------------------------------------------


def probes(path: str, method: str, operation: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(what, URL, body, content type) requests that break the operation in each generic way."""
    unknown = path.replace("{id}", str(uuid.uuid4()))
    body = "{}" if "requestBody" in operation else ""
    json_type = "application/json" if body else ""
    found = [("an id nobody has", unknown, body, json_type)]
    if "path" in where(operation):
        found.append(("an id that is not one", path.replace("{id}", "not-an-id"), body, json_type))
    if method == "post":
        found += [
            ("a body that is not JSON", unknown, "{not json", "application/json"),
            ("a body not declared JSON", unknown, "{}", "text/plain"),
            ("no content type", unknown, "", ""),
            ("a body over the limit", unknown, "[" + "0," * 600 + "0]", "application/json"),
        ]
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "query":
            found.append((f"a bad {parameter['name']}", f"{unknown}?{parameter['name']}=%00-x", body, json_type))
    if "query" in where(operation):
        many = "&".join(f"p{i}=1" for i in range(1_001))
        found.append(("too many query parameters", f"{unknown}?{many}", body, json_type))
    return found


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1_000)
@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS)
def test_what_the_server_answers_a_broken_request_is_documented(
    client: Client, recorded: RecordingTransport, catalog: None, path: str, method: str, operation: dict[str, Any]
) -> None:
    documented = statuses(operation)
    for what, url, body, content_type in probes(path, method, operation):
        response = client.generic(method.upper(), url, body, content_type=content_type)
        assert response.status_code in documented, f"{what}: {response.status_code} {response.content[:200]!r}"
        if response.status_code >= 400:
            assert set(response.json()["detail"][0]) >= {"type", "loc", "msg"}, what


# --- the boundary reads the same document --------------------------------------------------


@pytest.mark.parametrize(
    ("route", "path"),
    [("api/orders/<id>/pay", "/api/orders/{id}/pay"), ("api/x/<uuid:id>/y/<int:n>", "/api/x/{id}/y/{n}")],
)
def test_a_django_route_reads_as_the_documents_path(route: str, path: str) -> None:
    assert openapi_path(route) == path


def test_the_boundary_knows_each_paths_methods_from_the_document() -> None:
    methods = documented_methods()
    assert methods["/api/orders"] == {"GET", "POST"}
    assert methods["/api/orders/{id}/ship"] == {"POST"}
    assert set(methods) == set(DOCUMENT["paths"])
    assert all(re.fullmatch(r"/api/[^?]*", path) for path in methods)
