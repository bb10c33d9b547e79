"""The order lifecycle over HTTP: pay, pack, ship, the 409s that refuse a wrong step, and time
travel through an event-mode order's stream (``GET /api/orders/{id}/state?version=N``).

No worker runs here, so inventory never reserves the stock: ``reserve`` states fraud's verdict
(not flagged: risk 0.0, ``order.risk_scored`` in the stream) and the fulfilment's last answer
to the order service directly, as fraud's and payments' events would.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from core.eventstore import store
from messaging.kernel.envelope import Envelope
from messaging.kernel.names import Kind
from orders.models import Order
from orders.review import clear_order
from orders.services import confirm_order
from tests.fakes import RecordingTransport
from tests.unit.test_api import CaptureCallbacks, only_error, place, post, product_id

pytestmark = pytest.mark.db_engine

NO_HISTORY = "command mode overwrites the order row in place; no history exists to replay"

#: The lesson's journey, after the order is placed and its stock reserved.
STEPS: list[tuple[str, dict[str, str], str]] = [
    ("pay", {"method": "card"}, "paid"),
    ("pack", {"warehouse": "W2"}, "packed"),
    ("ship", {"carrier": "DHL", "tracking": "XYZ"}, "shipped"),
]


def reserve(order_id: str, capture: CaptureCallbacks) -> None:
    """What inventory's ``inventory.reserved`` does to the order (orders.handlers)."""
    cause = Envelope(
        kind=Kind.EVENT,
        type="inventory.reserved",
        correlation_id=order_id,
        producer="inventory",
        data={"order_id": order_id, "items": [{"product_id": product_id(), "quantity": 2}]},
    )
    with capture(execute=True):
        clear_order(uuid.UUID(order_id), risk_score=0.0)
        confirm_order(uuid.UUID(order_id), cause=cause)


def step(client: Client, capture: CaptureCallbacks, order_id: str, action: str, body: Any) -> Any:
    with capture(execute=True):
        return post(client, f"/api/orders/{order_id}/{action}", body)


def advance(client: Client, capture: CaptureCallbacks, order_id: str, until: str) -> None:
    for action, body, _ in STEPS:
        assert step(client, capture, order_id, action, body).status_code == 200
        if action == until:
            return


def stream_length(order_id: str) -> int:
    return len(store.read_stream(order_id))


# --- pay, pack, ship -----------------------------------------------------------------------


@pytest.mark.django_db
def test_event_mode_journey_appends_and_publishes_each_step(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order = place(client, django_capture_on_commit_callbacks, mode="event")
    reserve(order["id"], django_capture_on_commit_callbacks)

    for action, body, status in STEPS:
        response = step(client, django_capture_on_commit_callbacks, order["id"], action, body)
        assert response.status_code == 200, response.content
        assert response.json()["status"] == status

    shipped = response.json()
    assert shipped["payment_method"] == "card"
    assert shipped["warehouse"] == "W2"
    assert (shipped["carrier"], shipped["tracking"]) == ("DHL", "XYZ")
    assert shipped["shipped_at"] is not None
    assert shipped["version"] == 6
    types = ["order.placed", "order.risk_scored", "order.confirmed", "order.paid", "order.packed", "order.shipped"]
    assert [e.type for e in store.read_stream(order["id"])] == types
    assert recorded.names == types


@pytest.mark.django_db
def test_command_mode_journey_overwrites_the_row_and_sends_nothing_new(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order = place(client, django_capture_on_commit_callbacks, mode="command")
    reserve(order["id"], django_capture_on_commit_callbacks)
    sent = list(recorded.names)

    advance(client, django_capture_on_commit_callbacks, order["id"], until="ship")

    row = Order.objects.get(pk=order["id"])
    assert (row.status, row.payment_method, row.warehouse, row.carrier, row.tracking) == (
        "shipped",
        "card",
        "W2",
        "DHL",
        "XYZ",
    )
    assert row.version == 0
    assert stream_length(order["id"]) == 0
    assert recorded.names == sent  # paid, packed, shipped: nothing to tell anyone in command mode


def _shipping_unpaid(client: Client, capture: CaptureCallbacks, order_id: str) -> None:
    reserve(order_id, capture)


def _paying_cancelled(client: Client, capture: CaptureCallbacks, order_id: str) -> None:
    assert step(client, capture, order_id, "cancel", None).status_code == 200


def _packing_unreserved(client: Client, capture: CaptureCallbacks, order_id: str) -> None:
    assert step(client, capture, order_id, "pay", {"method": "card"}).status_code == 200


def _paying_twice(client: Client, capture: CaptureCallbacks, order_id: str) -> None:
    reserve(order_id, capture)
    advance(client, capture, order_id, until="pay")


def _cancelling_shipped(client: Client, capture: CaptureCallbacks, order_id: str) -> None:
    reserve(order_id, capture)
    advance(client, capture, order_id, until="ship")


INVALID: list[Any] = [
    pytest.param(
        _shipping_unpaid,
        "ship",
        {"carrier": "DHL", "tracking": "XYZ"},
        "cannot ship an order that is confirmed",
        id="ship unpaid",
    ),
    pytest.param(
        _paying_cancelled, "pay", {"method": "card"}, "cannot pay an order that is cancelled", id="pay cancelled"
    ),
    pytest.param(
        _packing_unreserved, "pack", {"warehouse": "W2"}, "stock is not reserved", id="pack before stock reserved"
    ),
    pytest.param(_paying_twice, "pay", {"method": "card"}, "cannot pay an order that is paid", id="pay twice"),
    pytest.param(_cancelling_shipped, "cancel", None, "cannot cancel an order that is shipped", id="cancel shipped"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["event", "command"])
@pytest.mark.parametrize(("setup", "action", "body", "message"), INVALID)
def test_invalid_transition_is_409_and_appends_nothing(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
    mode: str,
    setup: Any,
    action: str,
    body: Any,
    message: str,
) -> None:
    order = place(client, django_capture_on_commit_callbacks, mode=mode)
    setup(client, django_capture_on_commit_callbacks, order["id"])
    before = Order.objects.get(pk=order["id"])
    length, sent = stream_length(order["id"]), list(recorded.names)

    response = step(client, django_capture_on_commit_callbacks, order["id"], action, body)

    assert response.status_code == 409, response.content
    error = only_error(response)
    assert error["type"] == "conflict"
    assert error["loc"] == ["status"]
    assert message in error["msg"]
    assert stream_length(order["id"]) == length
    assert recorded.names == sent
    after = Order.objects.get(pk=order["id"])
    assert (after.status, after.version, after.updated_at) == (before.status, before.version, before.updated_at)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "body"),
    [("pay", {"method": "card"}), ("pack", {"warehouse": "W2"}), ("ship", {"carrier": "DHL", "tracking": "1"})],
)
def test_changing_an_unknown_order_is_404(client: Client, recorded: RecordingTransport, action: str, body: Any) -> None:
    missing = uuid.uuid4()

    response = post(client, f"/api/orders/{missing}/{action}", body)

    assert response.status_code == 404
    error = only_error(response)
    assert (error["type"], error["loc"]) == ("not_found", ["path", "id"])
    assert str(missing) in error["msg"]


BAD_STEP_BODIES: list[Any] = [
    pytest.param("pay", {}, ["body", "method"], "missing", id="pay without method"),
    pytest.param("pay", {"method": ""}, ["body", "method"], "string_too_short", id="empty method"),
    pytest.param("pay", {"method": "   "}, ["body", "method"], "string_pattern_mismatch", id="blank method"),
    pytest.param("pay", {"method": " card"}, ["body", "method"], "string_pattern_mismatch", id="leading space"),
    pytest.param("pay", {"method": "card\u2003"}, ["body", "method"], "string_pattern_mismatch", id="em space"),
    pytest.param("pay", {"method": "x" * 31}, ["body", "method"], "string_too_long", id="method over 30"),
    pytest.param("pay", {"method": 5}, ["body", "method"], "string_type", id="method not a string"),
    pytest.param("pay", {"method": "card", "amount": 1}, ["body", "amount"], "extra_forbidden", id="extra field"),
    pytest.param("pack", {}, ["body", "warehouse"], "missing", id="pack without warehouse"),
    pytest.param("pack", {"warehouse": "W" * 31}, ["body", "warehouse"], "string_too_long", id="warehouse over 30"),
    pytest.param("ship", {"tracking": "XYZ"}, ["body", "carrier"], "missing", id="ship without carrier"),
    pytest.param(
        "ship", {"carrier": "DHL", "tracking": ""}, ["body", "tracking"], "string_too_short", id="no tracking"
    ),
    pytest.param(
        "ship", {"carrier": "D" * 31, "tracking": "XYZ"}, ["body", "carrier"], "string_too_long", id="carrier over 30"
    ),
    pytest.param(
        "ship", {"carrier": "DHL", "tracking": "T" * 61}, ["body", "tracking"], "string_too_long", id="tracking over 60"
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("action", "body", "loc", "error_type"), BAD_STEP_BODIES)
def test_bad_step_body_is_422_naming_the_field(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
    action: str,
    body: Any,
    loc: list[Any],
    error_type: str,
) -> None:
    order = place(client, django_capture_on_commit_callbacks, mode="event")
    length = stream_length(order["id"])

    response = step(client, django_capture_on_commit_callbacks, order["id"], action, body)

    assert response.status_code == 422, response.content
    error = only_error(response)
    assert (error["loc"], error["type"]) == (loc, error_type)
    assert stream_length(order["id"]) == length
    assert Order.objects.get(pk=order["id"]).status == "placed"


@pytest.mark.django_db
def test_a_label_with_surrounding_whitespace_is_refused_as_the_document_says(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    """It used to be stripped; but then "card" plus 30 spaces passed a maxLength of 30 that the
    OpenAPI document said it broke. Now the document's pattern and the server refuse the same."""
    order = place(client, django_capture_on_commit_callbacks, mode="event")
    pattern = client.get("/api/openapi.json").json()["components"]["schemas"]["PayIn"]["properties"]["method"]

    response = step(client, django_capture_on_commit_callbacks, order["id"], "pay", {"method": "card" + " " * 30})

    assert response.status_code == 422
    assert only_error(response)["loc"] == ["body", "method"]
    assert re.fullmatch(pattern["pattern"], "card") and not re.fullmatch(pattern["pattern"], "card ")
    assert step(client, django_capture_on_commit_callbacks, order["id"], "pay", {"method": "card"}).status_code == 200


# --- GET /api/orders/{id}/state ------------------------------------------------------------


@pytest.mark.django_db
def test_state_at_each_version_shows_each_intermediate_status(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order = place(client, django_capture_on_commit_callbacks, mode="event")
    reserve(order["id"], django_capture_on_commit_callbacks)
    advance(client, django_capture_on_commit_callbacks, order["id"], until="ship")

    statuses = []
    for version in range(1, 7):
        response = client.get(f"/api/orders/{order['id']}/state", {"version": version})
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["order_id"] == order["id"]
        assert (body["version"], body["stream_version"]) == (version, 6)
        assert [e["version"] for e in body["events"]] == list(range(1, version + 1))
        statuses.append(body["state"]["status"])
    assert statuses == ["placed", "placed", "confirmed", "paid", "packed", "shipped"]

    paid = client.get(f"/api/orders/{order['id']}/state", {"version": 4}).json()
    assert paid["state"]["payment_method"] == "card"
    assert paid["state"]["risk_score"] == 0.0
    assert "warehouse" not in paid["state"]  # not packed yet at version 4
    assert paid["state"]["total"] == "49.98"  # a Decimal, as a string
    event = paid["events"][3]
    assert event["type"] == "order.paid"
    assert event["schema_version"] == event["stored_schema_version"] == 1
    assert event["data"]["method"] == "card"
    assert {"position", "recorded_at"} <= event.keys()


@pytest.mark.django_db
def test_state_without_a_version_is_the_current_state(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order = place(client, django_capture_on_commit_callbacks, mode="event")
    reserve(order["id"], django_capture_on_commit_callbacks)
    advance(client, django_capture_on_commit_callbacks, order["id"], until="ship")

    now = client.get(f"/api/orders/{order['id']}/state").json()

    assert now == client.get(f"/api/orders/{order['id']}/state", {"version": 6}).json()
    row = client.get(f"/api/orders/{order['id']}").json()
    for field in ("status", "total", "payment_method", "warehouse", "carrier", "tracking"):
        assert now["state"][field] == row[field], field
    for field in ("reserved_at", "shipped_at"):  # the API's JSON encoder keeps milliseconds only
        replayed, stored = datetime.fromisoformat(now["state"][field]), datetime.fromisoformat(row[field])
        assert abs(replayed - stored) < timedelta(milliseconds=1), field
    assert now["state"]["currency"] == "EUR"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("version", "error_type"),
    [("0", "greater_than_equal"), ("-1", "greater_than_equal"), ("two", "int_parsing")],
)
def test_state_version_out_of_range_is_422_naming_version(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
    version: str,
    error_type: str,
) -> None:
    order = place(client, django_capture_on_commit_callbacks, mode="event")
    reserve(order["id"], django_capture_on_commit_callbacks)  # the stream is at version 3

    response = client.get(f"/api/orders/{order['id']}/state", {"version": version})

    assert response.status_code == 422, response.content
    error = only_error(response)
    assert (error["loc"], error["type"]) == (["query", "version"], error_type)


@pytest.mark.django_db
def test_state_past_the_streams_version_is_404_naming_version(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    """A well-formed version no bound could refuse in advance (each stream has its own length):
    that state does not exist (yet), a 404, which the document lists."""
    order = place(client, django_capture_on_commit_callbacks, mode="event")
    reserve(order["id"], django_capture_on_commit_callbacks)  # the stream is at version 3

    response = client.get(f"/api/orders/{order['id']}/state", {"version": 4})

    assert response.status_code == 404, response.content
    error = only_error(response)
    assert (error["loc"], error["type"]) == (["query", "version"], "not_found")
    assert error["msg"] == "no version 4: the order's stream is at version 3"


@pytest.mark.django_db
def test_state_of_a_command_mode_order_is_409_no_history(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order = place(client, django_capture_on_commit_callbacks, mode="command")

    for query in ({}, {"version": 1}):
        response = client.get(f"/api/orders/{order['id']}/state", query)
        assert response.status_code == 409, response.content
        error = only_error(response)
        assert (error["type"], error["loc"], error["msg"]) == ("conflict", ["mode"], NO_HISTORY)


@pytest.mark.django_db
def test_state_of_an_unknown_order_is_404(client: Client) -> None:
    missing = uuid.uuid4()

    response = client.get(f"/api/orders/{missing}/state")

    assert response.status_code == 404
    assert only_error(response)["loc"] == ["path", "id"]


# --- GET /api/orders/{id}: history and read model ------------------------------------------


@pytest.mark.django_db
def test_order_detail_shows_the_stream_and_the_replayed_state(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order = place(client, django_capture_on_commit_callbacks, mode="event")
    reserve(order["id"], django_capture_on_commit_callbacks)
    advance(client, django_capture_on_commit_callbacks, order["id"], until="pack")

    detail = client.get(f"/api/orders/{order['id']}").json()

    history = detail["history"]
    assert history["available"] is True
    assert history["version"] == detail["version"] == 5
    types = ["order.placed", "order.risk_scored", "order.confirmed", "order.paid", "order.packed"]
    assert [e["type"] for e in history["events"]] == types
    assert history["events"][4]["data"]["warehouse"] == "W2"
    assert history["state"]["status"] == detail["status"] == "packed"
    assert history["drift"] == []
    assert "matches" in history["note"]
    assert set(detail["read_model"]) == {"summary", "lag"}
    assert isinstance(detail["read_model"]["lag"], dict)
    assert [m["name"] for m in detail["messages"]][:1] == ["order.placed"]


@pytest.mark.django_db
def test_order_detail_shows_the_read_model_once_projected(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    from readmodel.services import catch_up_stream  # what the projector does on each event's cue

    order = place(client, django_capture_on_commit_callbacks, mode="event")
    reserve(order["id"], django_capture_on_commit_callbacks)
    advance(client, django_capture_on_commit_callbacks, order["id"], until="ship")
    behind = client.get(f"/api/orders/{order['id']}").json()["read_model"]
    catch_up_stream(order["id"])

    read_model = client.get(f"/api/orders/{order['id']}").json()["read_model"]

    assert behind["summary"] is None
    assert behind["lag"]["pending_events"] >= 6
    summary = read_model["summary"]
    assert summary["order_id"] == order["id"]
    assert (summary["status"], summary["total"], summary["customer_name"]) == ("shipped", "49.98", "Ada Lovelace")
    assert read_model["lag"]["pending_events"] == behind["lag"]["pending_events"] - 6


@pytest.mark.django_db
def test_order_detail_shows_where_a_tampered_row_drifted(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order = place(client, django_capture_on_commit_callbacks, mode="event")
    reserve(order["id"], django_capture_on_commit_callbacks)
    advance(client, django_capture_on_commit_callbacks, order["id"], until="pack")
    Order.objects.filter(pk=order["id"]).update(warehouse="X")

    history = client.get(f"/api/orders/{order['id']}").json()["history"]

    assert history["drift"] == [{"field": "warehouse", "row_value": "X", "replayed_value": "W2"}]
    assert "differs from it in: warehouse" in history["note"]


@pytest.mark.django_db
def test_order_detail_in_command_mode_has_no_history(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order = place(client, django_capture_on_commit_callbacks, mode="command")

    detail = client.get(f"/api/orders/{order['id']}").json()

    assert detail["history"] == {
        "available": False,
        "note": "command mode overwrites the order row in place; no history exists",
        "version": None,
        "state": None,
        "events": [],
        "drift": [],
    }
    assert detail["read_model"]["summary"] is None


# --- OpenAPI -------------------------------------------------------------------------------


def test_openapi_lists_the_lifecycle_paths(client: Client) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]

    for action in ("pay", "pack", "ship"):
        responses = paths[f"/api/orders/{{id}}/{action}"]["post"]["responses"]
        assert {"200", "404", "409", "422"} <= set(responses)
    state = paths["/api/orders/{id}/state"]["get"]
    assert {"200", "404", "409", "422"} <= set(state["responses"])
    assert [p["name"] for p in state["parameters"]] == ["id", "version"]
    assert "get" in paths["/api/orders/{id}"]
