"""Property-based fuzzing of the JSON API: whatever a client sends, the answer is never a 5xx.

Two generators, both run in-process through Django's test client on the ``recorded`` transport
(nothing reaches a broker):

- hypothesis strategies written here: arbitrary JSON bodies (nested objects and lists, strings,
  huge integers, floats; no NaN or infinity, which JSON cannot carry), bodies shaped like the
  real input with arbitrary values, bytes that are not JSON, arbitrary path ids (and the ids of
  real orders, so the transitions run), query strings and header values;
- schemathesis, from the OpenAPI document the app serves (``/api/openapi.json``), generating
  requests that conform to it (positive) and requests that break it (negative), for every
  operation. Every answer must also be one of the statuses the document lists.

The Django test client re-raises an exception in a view, so a crash fails the test with its
traceback, not just a 500.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import schemathesis
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from api.site import api
from catalog.models import Customer, Product
from orders.models import Order
from orders.services import LineRequest, place_order
from tests.fakes import RecordingTransport

pytestmark = pytest.mark.db_engine

# Modest and reproducible: 200 examples per endpoint; derandomized under CI so a run is repeatable
# (locally each run explores new inputs). No example database: nothing is written to the tree.
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=os.environ.get("CI", "").lower() == "true",
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- strategies ----------------------------------------------------------------------------

HUGE = st.sampled_from([2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30, 10**400, -(10**400)])
INTS = st.one_of(st.integers(), st.integers(min_value=-3, max_value=12), HUGE)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "card", "command", "event", "1", "-1", "\u2028", "\ufeff"]),
    st.text(max_size=10).map(lambda text: f"{text}\x00{text}"),  # PostgreSQL refuses NUL in any text
)
SCALARS = st.one_of(st.none(), st.booleans(), INTS, FLOATS, TEXT)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)


def _keys(*names: str) -> st.SearchStrategy[str]:
    anything = st.text(max_size=12)
    return st.one_of(st.sampled_from(names), anything) if names else anything


def _shaped(*names: str) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with (mostly) the keys the endpoint expects, holding anything, or holding text."""
    anything = st.dictionaries(_keys(*names), JSON, max_size=len(names) + 1)
    if not names:
        return anything
    return st.one_of(anything, st.fixed_dictionaries(dict.fromkeys(names, TEXT)))


def order_bodies(customers: list[int], products: list[int]) -> st.SearchStrategy[dict[str, Any]]:
    """Bodies shaped like OrderIn: valid ones (real ids), and the same shape holding anything."""
    valid = st.fixed_dictionaries(
        {
            "user_id": st.sampled_from(customers),
            "items": st.lists(
                st.fixed_dictionaries(
                    {"product_id": st.sampled_from(products), "quantity": st.integers(min_value=1, max_value=1000)}
                ),
                min_size=1,
                max_size=4,
            ),
        },
        optional={"mode": st.sampled_from(["command", "event"])},
    )
    loose_line = st.fixed_dictionaries(
        {},
        optional={
            "product_id": st.one_of(st.sampled_from(products), INTS, JSON),
            "quantity": st.one_of(st.integers(min_value=1, max_value=1000), INTS, JSON),
        },
    )
    loose = st.fixed_dictionaries(
        {},
        optional={
            "user_id": st.one_of(st.sampled_from(customers), INTS, JSON),
            "items": st.one_of(st.lists(st.one_of(loose_line, JSON), max_size=4), JSON),
            "mode": st.one_of(st.sampled_from(["command", "event"]), JSON),
            "coupon": JSON,
        },
    )
    return st.one_of(valid, loose)


def bodies(shaped: st.SearchStrategy[Any]) -> st.SearchStrategy[str | bytes]:
    """JSON documents (shaped like the input, or anything), and bytes that are not JSON."""
    as_json = st.one_of(shaped, JSON).map(json.dumps)
    return st.one_of(as_json, as_json, st.binary(max_size=60), st.text(max_size=60))


#: Drawn as a path id: stands for a new order in the state the action accepts (see ``fresh_order``).
FRESH = "<a fresh order>"


def path_ids(orders: list[str]) -> st.SearchStrategy[str]:
    """New and existing orders (so transitions run), unknown uuids, and anything at all."""
    return st.one_of(
        st.just(FRESH),
        st.sampled_from(orders),
        st.uuids().map(str),
        st.text(min_size=1, max_size=40),
        st.sampled_from(["0", "-1", "1e9", "%00", "..", str(uuid.uuid4()).upper(), "{id}"]),
    )


#: The row an action accepts: (status, stock reserved?).
ACCEPTS = {
    "cancel": (Order.Status.PLACED, False),
    "pay": (Order.Status.PLACED, False),
    "pack": (Order.Status.PAID, True),
    "ship": (Order.Status.PACKED, True),
    "get": (Order.Status.PLACED, False),
}


def fresh_order(action: str, mode: str) -> str:
    """A new order, moved straight to a state where ``action`` is allowed."""
    customer = Customer.objects.order_by("pk").first()
    product = Product.objects.order_by("pk").first()
    assert customer is not None and product is not None
    order = place_order(customer_id=customer.pk, items=[LineRequest(product.pk, 1)], mode=mode)
    status, reserved = ACCEPTS[action]
    Order.objects.filter(pk=order.pk).update(status=status, reserved_at=timezone.now() if reserved else None)
    return str(order.pk)


def draw_path_id(data: st.DataObject, orders: list[str], action: str) -> str:
    order_id = data.draw(path_ids(orders), label="id")
    if order_id == FRESH:
        order_id = fresh_order(action, data.draw(st.sampled_from(["command", "event"]), label="mode"))
    return quote(order_id, safe="")


HEADER_VALUES = st.one_of(
    st.none(),
    st.text(max_size=210),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=201),
)
CONTENT_TYPES = st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""])


def query_values() -> st.SearchStrategy[Any]:
    return st.one_of(TEXT, INTS.map(str), FLOATS.map(repr), st.booleans().map(str), st.lists(TEXT, max_size=3))


def _send(client: Client, method: str, path: str, body: str | bytes, key: str | None, content_type: str) -> Any:
    headers = {} if key is None else {"Idempotency-Key": key}
    if method == "get":
        return client.get(path, headers=headers)
    return client.post(path, body, content_type=content_type, headers=headers)


def assert_no_server_error(response: Any) -> None:
    event(f"status {response.status_code}")  # the spread: pytest --hypothesis-show-statistics
    assert response.status_code < 500, response.content[:500]


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def orders(db: None, recorded: RecordingTransport, catalog: None) -> list[str]:
    """One order per mode, so the fuzzed ids include some that exist."""
    customer = Customer.objects.order_by("pk").first()
    product = Product.objects.order_by("pk").first()
    assert customer is not None and product is not None
    return [
        str(place_order(customer_id=customer.pk, items=[LineRequest(product.pk, 1)], mode=mode).pk)
        for mode in ("command", "event")
    ]


# --- hypothesis ----------------------------------------------------------------------------


@FUZZ
@given(data=st.data(), key=HEADER_VALUES, content_type=CONTENT_TYPES)
def test_post_orders_never_fails_with_a_server_error(
    client: Client, orders: list[str], data: st.DataObject, key: str | None, content_type: str
) -> None:
    customers = list(Customer.objects.values_list("pk", flat=True))
    products = list(Product.objects.values_list("pk", flat=True))
    body = data.draw(bodies(order_bodies(customers, products)), label="body")
    assert_no_server_error(_send(client, "post", "/api/orders", body, key, content_type))


TRANSITION_BODIES = {
    "cancel": st.one_of(st.just(""), st.just("{}"), bodies(_shaped())),
    "pay": bodies(_shaped("method")),
    "pack": bodies(_shaped("warehouse")),
    "ship": bodies(_shaped("carrier", "tracking")),
}


@pytest.mark.parametrize("action", sorted(TRANSITION_BODIES))
@FUZZ
@given(data=st.data())
def test_order_transitions_never_fail_with_a_server_error(
    client: Client, orders: list[str], action: str, data: st.DataObject
) -> None:
    order_id = draw_path_id(data, orders, action)
    body = data.draw(TRANSITION_BODIES[action], label="body")
    assert_no_server_error(_send(client, "post", f"/api/orders/{order_id}/{action}", body, None, "application/json"))


@FUZZ
@given(data=st.data())
def test_order_detail_never_fails_with_a_server_error(client: Client, orders: list[str], data: st.DataObject) -> None:
    order_id = draw_path_id(data, orders, "get")
    assert_no_server_error(client.get(f"/api/orders/{order_id}"))


@FUZZ
@given(data=st.data())
def test_time_travel_never_fails_with_a_server_error(client: Client, orders: list[str], data: st.DataObject) -> None:
    order_id = draw_path_id(data, orders, "get")
    query = data.draw(st.dictionaries(_keys("version"), query_values(), max_size=2), label="query")
    path = f"/api/orders/{order_id}/state?{urlencode(query, doseq=True)}"
    assert_no_server_error(client.get(path))


DASHBOARD_VALUES = st.one_of(
    query_values(), st.sampled_from(["placed", "true", "false", "0.01", "1e3", "Infinity", "NaN", "-0"])
)
DASHBOARD_QUERY = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(["status", "customer", "flagged", "min_total", "limit"], DASHBOARD_VALUES),
).flatmap(lambda known: st.dictionaries(st.text(max_size=12), DASHBOARD_VALUES, max_size=2).map(known.__or__))


@FUZZ
@given(query=DASHBOARD_QUERY)
def test_dashboard_never_fails_with_a_server_error(client: Client, orders: list[str], query: dict[str, Any]) -> None:
    assert_no_server_error(client.get(f"/api/dashboard?{urlencode(query, doseq=True)}"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        pytest.param("[" * 100_000 + "]" * 100_000, id="deeply nested list"),
        pytest.param('{"a":' * 50_000 + "1" + "}" * 50_000, id="deeply nested object"),
        pytest.param('{"user_id": 1e999, "items": []}', id="overflowing float"),
        pytest.param('{"user_id": NaN, "items": []}', id="NaN"),
        pytest.param('{"user_id": ' + "9" * 5000 + ', "items": []}', id="5000-digit integer"),
        pytest.param('{"user_id": 1, "user_id": 2, "items": []}', id="duplicate key"),
        pytest.param(b'{"user_id": "\xff"}', id="invalid UTF-8"),
        pytest.param('"\\ud800"', id="lone surrogate"),
    ],
)
def test_pathological_bodies_are_client_errors(
    client: Client, recorded: RecordingTransport, catalog: None, body: str | bytes
) -> None:
    response = client.post("/api/orders", body, content_type="application/json")
    assert 400 <= response.status_code < 500, response.content[:500]


NUL = "nul\x00byte"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "request_for"),
    [
        pytest.param("pay", lambda order: ("post", f"/api/orders/{order}/pay", {"method": NUL}), id="pay method"),
        pytest.param(
            "pack", lambda order: ("post", f"/api/orders/{order}/pack", {"warehouse": NUL}), id="pack warehouse"
        ),
        pytest.param(
            "ship",
            lambda order: ("post", f"/api/orders/{order}/ship", {"carrier": NUL, "tracking": "T1"}),
            id="ship carrier",
        ),
        pytest.param(
            "ship",
            lambda order: ("post", f"/api/orders/{order}/ship", {"carrier": "DHL", "tracking": NUL}),
            id="ship tracking",
        ),
        pytest.param("get", lambda order: ("get", f"/api/dashboard?customer={quote(NUL)}", None), id="dashboard"),
        pytest.param("get", lambda order: ("get", f"/api/dashboard?status={quote(NUL)}", None), id="dashboard status"),
    ],
)
@pytest.mark.parametrize("mode", ["command", "event"])
def test_a_nul_byte_in_text_is_a_client_error(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    action: str,
    request_for: Any,
    mode: str,
) -> None:
    """PostgreSQL cannot store or compare text holding NUL: it must be refused before any query."""
    method, path, body = request_for(fresh_order(action, mode))

    if method == "get":
        response = client.get(path)
    else:
        response = client.post(path, json.dumps(body), content_type="application/json")

    assert response.status_code == 422, response.content[:500]


# --- schemathesis --------------------------------------------------------------------------

#: The document GET /api/openapi.json serves (checked below), built in-process: no server, no network.
SCHEMA = schemathesis.openapi.from_dict(api.get_openapi_schema())
OPERATIONS = [(path, method) for path, methods in SCHEMA.raw_schema["paths"].items() for method in methods]
#: Negative cases need something to break: operations without parameters or a body have none.
CASES = [
    pytest.param(path, method, mode, id=f"{method.upper()} {path} {mode.value}")
    for path, method in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE
    or SCHEMA.raw_schema["paths"][path][method].get("parameters")
    or SCHEMA.raw_schema["paths"][path][method].get("requestBody")
]
#: Set by the test client or derived from the body, not sent as headers.
_NOT_HEADERS = {"content-type", "content-length", "host"}


def _documented(path: str, method: str) -> set[int]:
    return {int(code) for code in SCHEMA.raw_schema["paths"][path][method]["responses"]}


def _call(client: Client, case: schemathesis.Case[Any]) -> Any:
    """Send a case through Django's test client, serialized the way schemathesis would send it."""
    sent = case.as_transport_kwargs(base_url="http://testserver")
    path = sent["url"].removeprefix("http://testserver")
    if sent.get("params"):
        path += ("&" if "?" in path else "?") + urlencode(sent["params"], doseq=True)
    headers = {str(k): str(v) for k, v in sent["headers"].items() if str(k).lower() not in _NOT_HEADERS}
    content_type = str(sent["headers"].get("Content-Type", "application/json"))
    if "json" in sent:
        body: str | bytes = json.dumps(sent["json"])
    else:
        body = sent.get("data") or b""
    return client.generic(sent["method"], path, body, content_type=content_type, headers=headers)


@pytest.mark.parametrize(("path", "method", "mode"), CASES)
@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_schemathesis_finds_no_server_error_and_no_undocumented_status(
    client: Client, orders: list[str], path: str, method: str, mode: GenerationMode, data: st.DataObject
) -> None:
    case = data.draw(SCHEMA[path][method].as_strategy(generation_mode=mode), label="case")
    existing = data.draw(st.sampled_from([None, *orders]), label="existing order")
    if existing is not None and "id" in (case.path_parameters or {}):
        case.path_parameters["id"] = existing  # now and then, an order that exists

    response = _call(client, case)

    assert_no_server_error(response)
    # 400 too (a body the JSON parser refuses) is in the document now: core/openapi.py.
    assert response.status_code in _documented(path, method), (response.status_code, response.content[:300])


def test_schemathesis_reads_the_document_the_api_serves(client: Client) -> None:
    served = client.get("/api/openapi.json").json()

    assert served == json.loads(json.dumps(SCHEMA.raw_schema))
    assert len(CASES) > len(OPERATIONS)  # negative cases too, where there is something to break
