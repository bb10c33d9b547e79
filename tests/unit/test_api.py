"""The JSON API (ARCHITECTURE.md §3): status codes, error shape, and what each order sets off.

Messages leave only when the transaction commits (messaging/kernel/outbound.py). Most tests run
inside pytest-django's rolled-back transaction and use ``django_capture_on_commit_callbacks``
to fire the commit hooks; the message-log test commits for real (``transaction=True``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.test import Client

from catalog.models import Customer, Product
from orders.models import Order
from orders.services import MAX_QUANTITY
from tests.fakes import RecordingTransport

pytestmark = pytest.mark.db_engine

CaptureCallbacks = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]

UNKNOWN_ID = 999_999


def post(client: Client, path: str, body: Any = None) -> Any:
    # A POST that reads no body (cancel) sends {}: Django's test client drops the Content-Type of
    # an empty body, and the API refuses a POST without one (415; test_api_boundary.py).
    data = "{}" if body is None else json.dumps(body)
    return client.post(path, data, content_type="application/json")


def product_id(sku: str = "PROD-A") -> int:
    # Looked up, not assumed: SQLite does not reset ids between transactional tests.
    return Product.objects.get(sku=sku).pk


def ada() -> int:
    return Customer.objects.get(email="ada@example.com").pk


def get_or_cancel(client: Client, method: str, order_id: str) -> Any:
    if method == "get":
        return client.get(f"/api/orders/{order_id}")
    return post(client, f"/api/orders/{order_id}/cancel")


def order_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"user_id": ada(), "items": [{"product_id": product_id(), "quantity": 2}]}
    body.update(overrides)
    return body


def only_error(response: Any) -> dict[str, Any]:
    detail = response.json()["detail"]
    assert len(detail) == 1, detail
    error: dict[str, Any] = detail[0]
    assert {"type", "loc", "msg"} <= error.keys()
    return error


def place(client: Client, capture: CaptureCallbacks, **overrides: Any) -> dict[str, Any]:
    with capture(execute=True):
        response = post(client, "/api/orders", order_body(**overrides))
    assert response.status_code == 201, response.content
    order: dict[str, Any] = response.json()
    return order


# --- catalog -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_products_lists_the_seeded_catalog_with_ids(client: Client, catalog: None) -> None:
    response = client.get("/api/products")

    assert response.status_code == 200
    products = {p["sku"]: p for p in response.json()}
    assert products["PROD-A"] == {
        "id": product_id("PROD-A"),
        "sku": "PROD-A",
        "name": "Espresso cup",
        "price": "24.99",
        "stock": 100,
    }
    assert len(products) == Product.objects.count()


@pytest.mark.django_db
def test_customers_lists_ids_usable_as_user_id(client: Client, catalog: None) -> None:
    response = client.get("/api/customers")

    assert response.status_code == 200
    assert {"id": ada(), "name": "Ada Lovelace", "email": "ada@example.com"} in response.json()


# --- POST /api/orders ----------------------------------------------------------------------


@pytest.mark.django_db
def test_place_order_in_command_mode_sends_the_two_commands(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order = place(client, django_capture_on_commit_callbacks, mode="command")

    assert order["mode"] == "command"
    assert order["status"] == "placed"
    assert order["total"] == "49.98"
    assert order["customer"] == {"id": ada(), "name": "Ada Lovelace"}
    assert order["lines"] == [{"product_id": product_id(), "sku": "PROD-A", "quantity": 2, "unit_price": "24.99"}]
    assert Order.objects.get(pk=order["id"]).mode == "command"
    assert recorded.names == ["inventory.reserve", "fraud.check"]
    assert {e.correlation_id for e in recorded.delivered} == {order["id"]}


@pytest.mark.django_db
def test_place_order_in_event_mode_publishes_one_fact(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order = place(client, django_capture_on_commit_callbacks, mode="event")

    assert order["mode"] == "event"
    assert order["status"] == "placed"
    assert recorded.names == ["order.placed"]
    assert recorded.delivered[0].data["order_id"] == order["id"]


@pytest.mark.django_db
@pytest.mark.parametrize("configured", ["command", "event"])
def test_mode_defaults_to_the_configured_flow_mode(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
    settings: Any,
    configured: str,
) -> None:
    settings.SHOP_FLOW_MODE = configured

    order = place(client, django_capture_on_commit_callbacks)

    assert order["mode"] == configured


@pytest.mark.django_db
def test_lines_for_the_same_product_are_merged(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    items = [{"product_id": product_id(), "quantity": 1}, {"product_id": product_id(), "quantity": 3}]

    order = place(client, django_capture_on_commit_callbacks, items=items, mode="event")

    assert [(line["sku"], line["quantity"]) for line in order["lines"]] == [("PROD-A", 4)]


def _item(**overrides: Any) -> list[dict[str, Any]]:
    return [{"product_id": product_id(), "quantity": 1, **overrides}]


BAD_BODIES: list[Any] = [
    # (case, body built from the seeded catalog, expected loc, expected error type)
    pytest.param(
        lambda: order_body(items=_item(product_id=UNKNOWN_ID)),
        ["body", "items", 0, "product_id"],
        "value_error",
        id="unknown product",
    ),
    pytest.param(lambda: order_body(user_id=UNKNOWN_ID), ["body", "user_id"], "value_error", id="unknown user"),
    pytest.param(
        lambda: order_body(items=_item(quantity=0)), ["body", "items", 0, "quantity"], "greater_than_equal", id="qty 0"
    ),
    pytest.param(
        lambda: order_body(items=_item(quantity=-1)),
        ["body", "items", 0, "quantity"],
        "greater_than_equal",
        id="qty -1",
    ),
    pytest.param(
        lambda: order_body(items=_item(quantity=10**9)),
        ["body", "items", 0, "quantity"],
        "less_than_equal",
        id="qty 10**9",
    ),
    pytest.param(
        lambda: order_body(items=_item(quantity=MAX_QUANTITY + 1)),
        ["body", "items", 0, "quantity"],
        "less_than_equal",
        id="qty just over the limit",
    ),
    pytest.param(
        lambda: order_body(items=_item(quantity="2")),
        ["body", "items", 0, "quantity"],
        "int_type",
        id="qty as a string",
    ),
    pytest.param(
        lambda: order_body(items=_item(quantity=True)), ["body", "items", 0, "quantity"], "int_type", id="qty true"
    ),
    # Past the largest row id: it names nothing, and SQLite cannot compare it (it was a 500).
    pytest.param(
        lambda: order_body(items=[{"product_id": 2**63, "quantity": 1}]),
        ["body", "items", 0, "product_id"],
        "less_than_equal",
        id="product id past any row",
    ),
    pytest.param(lambda: order_body(user_id=2**63), ["body", "user_id"], "less_than_equal", id="user id past any row"),
    pytest.param(
        lambda: order_body(items=_item(quantity=2.5)), ["body", "items", 0, "quantity"], "int_type", id="qty 2.5"
    ),
    pytest.param(
        lambda: {k: v for k, v in order_body().items() if k != "user_id"}, ["body", "user_id"], "missing", id="no user"
    ),
    pytest.param(
        lambda: {k: v for k, v in order_body().items() if k != "items"}, ["body", "items"], "missing", id="no items"
    ),
    pytest.param(lambda: order_body(items=[]), ["body", "items"], "too_short", id="empty items"),
    pytest.param(
        lambda: order_body(items=_item(quantity=MAX_QUANTITY) * 2),
        ["body", "items"],
        "value_error",
        id="repeated lines over the limit once merged",
    ),
    pytest.param(
        lambda: order_body(items=[{"product_id": product_id()}]),
        ["body", "items", 0, "quantity"],
        "missing",
        id="line without quantity",
    ),
    pytest.param(lambda: order_body(mode="saga"), ["body", "mode"], "enum", id="bad mode"),
    pytest.param(lambda: order_body(coupon="FREE"), ["body", "coupon"], "extra_forbidden", id="extra field"),
    pytest.param(
        lambda: order_body(items=_item(price="0.01")),
        ["body", "items", 0, "price"],
        "extra_forbidden",
        id="extra field in a line",
    ),
    pytest.param(lambda: [order_body()], ["body"], "model_attributes_type", id="body not an object"),
]


@pytest.mark.django_db
def test_a_whole_number_written_with_a_point_is_an_integer(
    client: Client, recorded: RecordingTransport, catalog: None, django_capture_on_commit_callbacks: CaptureCallbacks
) -> None:
    """JSON has one number type, and the document's "type": "integer" accepts 2.0: so does the API."""
    body = order_body(user_id=float(ada()), items=[{"product_id": float(product_id()), "quantity": 2.0}])

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "/api/orders", body)

    assert response.status_code == 201, response.content
    assert response.json()["lines"][0]["quantity"] == 2


@pytest.mark.django_db
@pytest.mark.parametrize(("make_body", "loc", "error_type"), BAD_BODIES)
def test_bad_order_is_refused_naming_the_field(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
    make_body: Callable[[], Any],
    loc: list[Any],
    error_type: str,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "/api/orders", make_body())

    assert response.status_code == 422, response.content
    error = only_error(response)
    assert error["loc"] == loc
    assert error["type"] == error_type
    assert error["msg"]
    assert not Order.objects.exists()
    assert recorded.delivered == []


@pytest.mark.django_db
def test_service_errors_use_ninjas_error_shape(client: Client, recorded: RecordingTransport, catalog: None) -> None:
    """A client must not need two parsers: the service's refusal looks like ninja's own 422."""
    from_schema = only_error(post(client, "/api/orders", order_body(items=_item(quantity=0))))
    from_service = only_error(post(client, "/api/orders", order_body(items=_item(product_id=UNKNOWN_ID))))

    assert from_schema["loc"][:2] == from_service["loc"][:2] == ["body", "items"]
    assert from_service["msg"] == f"no product with id {UNKNOWN_ID}"


@pytest.mark.django_db
def test_body_that_is_not_json_is_a_400_in_the_same_shape(client: Client, catalog: None) -> None:
    response = client.post("/api/orders", "{not json", content_type="application/json")

    assert response.status_code == 400
    assert "Cannot parse request body" in only_error(response)["msg"]


@pytest.mark.django_db
def test_unknown_product_after_a_repeated_line_names_the_request_index(
    client: Client, recorded: RecordingTransport, catalog: None
) -> None:
    items = [
        {"product_id": product_id(), "quantity": 1},
        {"product_id": product_id(), "quantity": 1},
        {"product_id": UNKNOWN_ID, "quantity": 1},
    ]

    response = post(client, "/api/orders", order_body(items=items))

    assert only_error(response)["loc"] == ["body", "items", 2, "product_id"]


# --- POST /api/orders/{id}/cancel ----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mode", "sent_on_cancel"),
    [("command", ["inventory.release", "email.send"]), ("event", ["order.cancelled"])],
)
def test_cancel_then_cancel_again_is_a_conflict(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
    mode: str,
    sent_on_cancel: list[str],
) -> None:
    order = place(client, django_capture_on_commit_callbacks, mode=mode)
    placed_count = len(recorded.delivered)

    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, f"/api/orders/{order['id']}/cancel")
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "cancelled"
    assert first.json()["cancel_reason"] == "cancelled by the customer"
    assert recorded.names[placed_count:] == sent_on_cancel

    with django_capture_on_commit_callbacks(execute=True):
        second = post(client, f"/api/orders/{order['id']}/cancel")
    assert second.status_code == 409
    error = only_error(second)
    assert error["type"] == "conflict"
    assert error["loc"] == ["status"]
    assert "already cancelled" in error["msg"]
    assert recorded.names[placed_count:] == sent_on_cancel  # the refused cancel sent nothing


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "cancel"])
def test_unknown_order_is_404_naming_the_id(client: Client, recorded: RecordingTransport, method: str) -> None:
    missing = uuid.uuid4()

    response = get_or_cancel(client, method, str(missing))

    assert response.status_code == 404
    error = only_error(response)
    assert error["loc"] == ["path", "id"]
    assert error["type"] == "not_found"
    assert str(missing) in error["msg"]


@pytest.mark.django_db
@pytest.mark.parametrize("bad_id", ["42", "not-a-uuid", "1234567890abcdef"])
@pytest.mark.parametrize("method", ["get", "cancel"])
def test_id_that_is_not_a_uuid_is_422_naming_the_id(
    client: Client, recorded: RecordingTransport, bad_id: str, method: str
) -> None:
    response = get_or_cancel(client, method, bad_id)

    assert response.status_code == 422
    error = only_error(response)
    assert error["loc"] == ["path", "id"]
    assert error["type"] == "uuid_parsing"


# --- GET /api/orders/{id} ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("mode", "sent", "history"),
    [
        (
            "command",
            ["inventory.reserve", "fraud.check"],
            {"available": False, "note": "command mode overwrites the order row in place; no history exists"},
        ),
        ("event", ["order.placed"], {"available": True, "version": 1, "events": ["order.placed"], "drift": []}),
    ],
)
def test_order_detail_shows_the_write_model_history_read_model_and_messages(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    mode: str,
    sent: list[str],
    history: dict[str, Any],
) -> None:
    # transaction=True: the view's transaction really commits, so the outbound seam writes the log.
    created = post(client, "/api/orders", order_body(mode=mode))
    assert created.status_code == 201
    order_id = created.json()["id"]

    response = client.get(f"/api/orders/{order_id}")

    assert response.status_code == 200
    detail = response.json()
    # The write model
    assert detail["id"] == order_id
    assert detail["mode"] == mode
    assert detail["status"] == "placed"
    assert detail["total"] == "49.98"
    assert detail["customer"]["name"] == "Ada Lovelace"
    assert detail["lines"][0]["quantity"] == 2
    assert detail["risk_score"] is None
    assert detail["reserved_at"] is None
    assert detail["failed_commands"] == []
    # Its history: the stream and the replayed state (event mode), or none (command mode)
    shown = {**detail["history"], "events": [e["type"] for e in detail["history"]["events"]]}
    assert {key: shown[key] for key in history} == history
    if history["available"]:
        assert detail["history"]["state"] == {"status": "placed", "total": "49.98", "currency": "EUR"}
    # The read model: no projector runs here (the transport only records), so no summary yet
    assert detail["read_model"]["summary"] is None
    assert detail["read_model"]["lag"]["head_position"] >= (1 if mode == "event" else 0)
    # The messages it caused
    assert [m["name"] for m in detail["messages"]] == sent
    assert {m["status"] for m in detail["messages"]} == {"sent"}
    assert {m["service"] for m in detail["messages"]} == {"orders"}
    assert {m["message_id"] for m in detail["messages"]} == {str(e.id) for e in recorded.delivered}


@pytest.mark.django_db
def test_order_detail_shows_the_cancellation(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order = place(client, django_capture_on_commit_callbacks, mode="event")
    with django_capture_on_commit_callbacks(execute=True):
        post(client, f"/api/orders/{order['id']}/cancel")

    detail = client.get(f"/api/orders/{order['id']}").json()

    assert detail["status"] == "cancelled"
    assert detail["cancel_reason"] == "cancelled by the customer"
    assert [m["name"] for m in detail["messages"]] == ["order.placed", "order.cancelled"]


# --- OpenAPI -------------------------------------------------------------------------------


def test_openapi_lists_the_paths_and_error_shape(client: Client) -> None:
    response = client.get("/api/openapi.json")

    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    assert {"/api/products", "/api/customers", "/api/orders", "/api/orders/{id}", "/api/orders/{id}/cancel"} <= set(
        paths
    )
    assert "201" in paths["/api/orders"]["post"]["responses"]
    assert "409" in paths["/api/orders/{id}/cancel"]["post"]["responses"]
    order_in = schema["components"]["schemas"]["OrderIn"]
    assert set(order_in["required"]) == {"user_id", "items"}
    assert order_in["additionalProperties"] is False


def test_docs_page_is_served(client: Client) -> None:
    response = client.get("/api/docs")

    assert response.status_code == 200
    assert b"openapi.json" in response.content
