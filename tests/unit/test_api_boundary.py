"""The API's boundary (core/api_boundary.py): JSON bodies only, a stated size limit, and every
error under /api/ in the API's error shape, while the admin and the walkthrough keep Django's pages.

Why it matters: a JSON body sent as text/plain, form-encoded or multipart is what an HTML form on
any web page can send cross-site without asking, so accepting it let any page place orders.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client, override_settings

from api.site import api
from orders.models import Order
from tests.fakes import RecordingTransport
from tests.unit.test_api import ada, order_body, product_id

pytestmark = pytest.mark.django_db

#: Every POST the API serves, from its own document: an endpoint added later is covered too.
POSTS = sorted(
    path.replace("{id}", str(uuid.UUID(int=1)))
    for path, methods in api.get_openapi_schema()["paths"].items()
    if "post" in methods
)


def assert_error(response: Any, status: int, error_type: str) -> dict[str, Any]:
    """The API's error shape, ``{"detail": [{"type", "loc", "msg"}]}``, as JSON."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    (error,) = response.json()["detail"]
    assert {"type", "loc", "msg"} <= error.keys()
    assert error["type"] == error_type, error
    return dict(error)


def valid_body() -> str:
    return json.dumps({"user_id": ada(), "items": [{"product_id": product_id(), "quantity": 1}]})


# --- 415: only JSON --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("text/plain", id="text/plain"),
        pytest.param("text/plain;charset=UTF-8", id="text/plain with charset"),
        pytest.param("application/x-www-form-urlencoded", id="form-encoded"),
        pytest.param("multipart/form-data; boundary=x", id="multipart"),
        pytest.param("", id="none"),
        pytest.param("application/json; charset=latin-1", id="JSON in latin-1"),
        pytest.param("application/json; profile=x", id="JSON with another parameter"),
        pytest.param("application/merge-patch+json", id="another JSON media type"),
    ],
)
def test_a_body_that_is_not_declared_json_is_415_and_places_nothing(
    client: Client, recorded: RecordingTransport, catalog: None, content_type: str
) -> None:
    response = client.generic("POST", "/api/orders", valid_body(), content_type=content_type)

    error = assert_error(response, 415, "unsupported_media_type")
    assert error["loc"] == []
    assert "application/json" in error["msg"]
    assert not recorded.delivered
    assert not Order.objects.exists()


def test_a_form_posted_the_way_a_browser_posts_one_is_415(client: Client, catalog: None) -> None:
    """The test client's default POST is multipart, like a browser's <form enctype=multipart/form-data>."""
    response = client.post("/api/orders", {"user_id": str(ada())})

    assert_error(response, 415, "unsupported_media_type")


def test_a_post_with_no_body_and_no_content_type_is_415(client: Client, catalog: None) -> None:
    response = client.generic("POST", f"/api/orders/{uuid.uuid4()}/cancel", "", content_type="")

    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json;charset=utf-8", "Application/JSON; charset=UTF-8"]
)
def test_json_with_or_without_a_utf8_charset_is_accepted(
    client: Client, recorded: RecordingTransport, catalog: None, content_type: str
) -> None:
    response = client.generic("POST", "/api/orders", valid_body(), content_type=content_type)

    assert response.status_code == 201, response.content


@pytest.mark.parametrize("path", POSTS)
def test_every_post_the_api_serves_refuses_text_plain(client: Client, catalog: None, path: str) -> None:
    response = client.generic("POST", path, "{}", content_type="text/plain")

    assert_error(response, 415, "unsupported_media_type")


def test_a_post_to_a_path_that_serves_no_post_is_405_not_415(client: Client, catalog: None) -> None:
    """The method is wrong whatever the body: the 405 says which methods the path serves."""
    response = client.generic("POST", "/api/products", "hello", content_type="text/plain")

    error = assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET"
    assert "GET" in error["msg"]


# --- 413: the size limit ---------------------------------------------------------------------


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1_000)
def test_a_body_over_the_limit_is_413(client: Client, recorded: RecordingTransport, catalog: None) -> None:
    body = json.dumps({**order_body(), "padding": "x" * 1_000})

    response = client.post("/api/orders", body, content_type="application/json")

    error = assert_error(response, 413, "request_too_large")
    assert "1000" in error["msg"]
    assert not recorded.delivered


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1_000)
def test_a_body_at_the_limit_is_read(client: Client, recorded: RecordingTransport, catalog: None) -> None:
    body = valid_body()
    body = body[:-1] + " " * (1_000 - len(body)) + "}"
    assert len(body) == 1_000

    response = client.post("/api/orders", body, content_type="application/json")

    assert response.status_code == 201, response.content


def test_the_limit_is_djangos_and_the_document_states_it(client: Client) -> None:
    from django.conf import settings

    document = client.get("/api/openapi.json").json()

    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 2_621_440
    assert "2,621,440 bytes" in document["info"]["description"]
    assert "2,621,440 bytes" in document["paths"]["/api/orders"]["post"]["responses"]["413"]["description"]


# --- 404, 405, 400, 500: JSON under /api/ -----------------------------------------------------


@pytest.mark.parametrize("path", ["/api/nope", "/api/orders/", "/api/", f"/api/orders/{uuid.uuid4()}/nope"])
def test_a_path_the_api_does_not_serve_is_a_json_404(client: Client, path: str) -> None:
    error = assert_error(client.get(path), 404, "not_found")
    assert "/api/docs" in error["msg"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("put", "/api/orders", "GET, POST"),
        ("delete", "/api/orders", "GET, POST"),
        ("patch", "/api/products", "GET"),
        ("get", f"/api/orders/{uuid.UUID(int=1)}/pay", "POST"),
    ],
)
def test_a_method_the_path_does_not_serve_is_a_json_405_with_allow(
    client: Client, method: str, path: str, allow: str
) -> None:
    response = client.generic(method.upper(), path, "{}", content_type="application/json")

    assert_error(response, 405, "method_not_allowed")
    assert sorted(response["Allow"].split(", ")) == sorted(allow.split(", "))


def test_a_body_that_is_not_json_is_a_json_400(client: Client, catalog: None) -> None:
    response = client.post("/api/orders", "{not json", content_type="application/json")

    assert_error(response, 400, "bad_request")


def test_more_query_parameters_than_django_reads_is_a_json_400(client: Client, catalog: None) -> None:
    query = "&".join(f"p{i}=1" for i in range(1_001))

    error = assert_error(client.get(f"/api/orders?{query}"), 400, "bad_request")
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in error["msg"]


def test_an_unexpected_error_under_api_is_a_json_500(monkeypatch: pytest.MonkeyPatch, catalog: None) -> None:
    def broken(**filters: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("orders.api.order_list", broken)

    response = Client(raise_request_exception=False).get("/api/orders")

    error = assert_error(response, 500, "server_error")
    assert "a bug" not in error["msg"]  # the log has it; the client does not


# --- outside /api/: Django's own pages --------------------------------------------------------


def test_outside_the_api_a_404_is_djangos_html_page(client: Client) -> None:
    response = client.get("/walkthrough/nope")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_outside_the_api_a_405_is_djangos(client: Client) -> None:
    response = client.put("/walkthrough/orders")

    assert response.status_code == 405
    assert not response["Content-Type"].startswith("application/json")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1_000)
def test_outside_the_api_a_body_over_the_limit_is_djangos_400(catalog: None) -> None:
    """The walkthrough's form posts are Django's: Django refuses the body with its own 400 page."""
    response = Client(raise_request_exception=False).post(
        "/walkthrough/orders", "x" * 2_000, content_type="application/json"
    )

    assert response.status_code == 400
    assert not response["Content-Type"].startswith("application/json")
