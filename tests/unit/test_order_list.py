"""``GET /api/orders``: the write model's orders, newest first, a page at a time, with filters.

Orders are placed through the service on the recording transport (nothing reaches a broker), and
their ``placed_at`` set apart by a minute each, so "newest first" is checked on known times.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from catalog.models import Customer, Product
from orders.models import Order
from orders.services import LineRequest, place_order
from tests.fakes import RecordingTransport

# The query is the database's: icontains, a join, OFFSET, ordering on a uuid: run on both engines.
pytestmark = [pytest.mark.django_db, pytest.mark.db_engine, pytest.mark.usefixtures("recorded")]


def customer(email: str) -> Customer:
    return Customer.objects.get(email=email)


def placed(who: str, mode: str, *, minutes_ago: int, status: str = "placed") -> str:
    """An order of ``who``'s, placed ``minutes_ago`` minutes ago and now in ``status``."""
    product = Product.objects.get(sku="PROD-A")
    order = place_order(customer_id=customer(who).pk, items=[LineRequest(product.pk, 1)], mode=mode)
    Order.objects.filter(pk=order.pk).update(placed_at=timezone.now() - timedelta(minutes=minutes_ago), status=status)
    return str(order.pk)


@pytest.fixture
def orders(catalog: None) -> dict[str, str]:
    """Five orders, newest first: e, d, c, b, a."""
    return {
        "a": placed("ada@example.com", "command", minutes_ago=50),
        "b": placed("grace@example.com", "event", minutes_ago=40, status="paid"),
        "c": placed("ada@example.com", "event", minutes_ago=30, status="cancelled"),
        "d": placed("mallory@mailinator.com", "command", minutes_ago=20, status="on_hold"),
        "e": placed("ada@example.com", "event", minutes_ago=10),
    }


def listed(client: Client, query: str = "") -> dict[str, Any]:
    response = client.get(f"/api/orders{query}")
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


def test_lists_every_order_newest_first_with_the_count(client: Client, orders: dict[str, str]) -> None:
    page = listed(client)

    assert page["count"] == 5
    assert ids(page) == [orders[k] for k in "edcba"]


def test_each_item_is_the_order_as_post_and_get_show_it(client: Client, orders: dict[str, str]) -> None:
    (item,) = listed(client, "?limit=1")["items"]

    detail = client.get(f"/api/orders/{item['id']}").json()
    assert {key: detail[key] for key in item} == item
    assert item["customer"] == {"id": customer("ada@example.com").pk, "name": "Ada Lovelace"}
    assert item["lines"][0]["sku"] == "PROD-A"


def test_pages_with_limit_and_offset_keep_the_full_count(client: Client, orders: dict[str, str]) -> None:
    first, second, third = (listed(client, f"?limit=2&offset={offset}") for offset in (0, 2, 4))

    assert [ids(first), ids(second), ids(third)] == [
        [orders["e"], orders["d"]],
        [orders["c"], orders["b"]],
        [orders["a"]],
    ]
    assert {first["count"], second["count"], third["count"]} == {5}
    assert listed(client, "?offset=5") == {"count": 5, "items": []}


def test_the_default_page_is_50(client: Client, catalog: None) -> None:
    for minute in range(51):
        placed("ada@example.com", "event", minutes_ago=minute)

    page = listed(client)

    assert (page["count"], len(page["items"])) == (51, 50)


def test_orders_placed_at_the_same_moment_are_ordered_by_id(client: Client, orders: dict[str, str]) -> None:
    """A tie on placed_at must not reorder between two requests, or pages would skip and repeat."""
    same = timezone.now()
    Order.objects.update(placed_at=same)

    assert ids(listed(client)) == sorted(orders.values(), key=uuid.UUID)
    assert ids(listed(client, "?limit=2&offset=2")) == sorted(orders.values(), key=uuid.UUID)[2:4]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("?mode=command", "da", id="mode command"),
        pytest.param("?mode=event", "ecb", id="mode event"),
        pytest.param("?status=placed", "ea", id="status placed"),
        pytest.param("?status=on_hold", "d", id="status on_hold"),
        pytest.param("?status=shipped", "", id="status with no orders"),
        pytest.param("?customer_name=LOVE", "eca", id="part of a name, any case"),
        pytest.param("?customer_name=nobody", "", id="a name nobody has"),
        pytest.param("?mode=event&status=placed", "e", id="filters combine"),
    ],
)
def test_filters_on_mode_status_and_customer_name(
    client: Client, orders: dict[str, str], query: str, expected: str
) -> None:
    page = listed(client, query)

    assert ids(page) == [orders[k] for k in expected]
    assert page["count"] == len(expected)


def test_filters_on_the_customer_id(client: Client, orders: dict[str, str]) -> None:
    assert ids(listed(client, f"?customer={customer('ada@example.com').pk}")) == [orders[k] for k in "eca"]
    assert ids(listed(client, f"?customer={customer('grace@example.com').pk}")) == [orders["b"]]
    assert listed(client, "?customer=999999") == {"count": 0, "items": []}


def test_reads_a_page_in_a_fixed_number_of_queries(
    client: Client, orders: dict[str, str], django_assert_max_num_queries: Any
) -> None:
    """Customer, lines and failed commands come with the page, not one query per order."""
    with django_assert_max_num_queries(5):
        listed(client)


@pytest.mark.parametrize(
    ("query", "field", "error_type"),
    [
        ("mode=", "mode", "enum"),
        ("mode=batch", "mode", "enum"),
        ("status=lost", "status", "enum"),
        ("status=", "status", "enum"),
        ("customer=0", "customer", "greater_than_equal"),
        ("customer=ada", "customer", "int_parsing"),
        (f"customer={2**63}", "customer", "less_than_equal"),
        ("customer_name=", "customer_name", "string_too_short"),
        ("customer_name=" + "x" * 201, "customer_name", "string_too_long"),
        ("customer_name=a%00b", "customer_name", "string_pattern_mismatch"),
        ("limit=0", "limit", "greater_than_equal"),
        ("limit=101", "limit", "less_than_equal"),
        ("offset=-1", "offset", "greater_than_equal"),
        (f"offset={2**31}", "offset", "less_than_equal"),
    ],
)
def test_a_bad_filter_is_422_naming_it(
    client: Client, recorded: RecordingTransport, catalog: None, query: str, field: str, error_type: str
) -> None:
    response = client.get(f"/api/orders?{query}")

    assert response.status_code == 422, response.content
    (error,) = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["query", field], error_type)
