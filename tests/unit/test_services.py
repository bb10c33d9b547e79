"""Domain services on their own: stock reservation, the risk score, and order validation."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from catalog.models import Customer, Product
from contracts.common import PricedLine, StockLine
from fraud.scoring import FLAG_THRESHOLD, score
from fraud.services import assess_order
from inventory.models import Reservation
from inventory.services import AlreadyReleased, OutOfStock, release_stock, reserve_stock
from orders.errors import OrderError
from orders.models import Order
from orders.services import LineRequest, place_order

pytestmark = [pytest.mark.django_db, pytest.mark.db_engine]


def product(sku: str) -> Product:
    return Product.objects.get(sku=sku)


def line(sku: str, quantity: int) -> StockLine:
    return StockLine(product_id=product(sku).pk, quantity=quantity)


# --- inventory ------------------------------------------------------------------------------------------------------


def test_reserve_takes_stock_for_every_line(catalog: None) -> None:
    order_id = uuid.uuid4()
    reservation = reserve_stock(order_id, [line("PROD-A", 2), line("PROD-B", 3)])
    assert (product("PROD-A").stock, product("PROD-B").stock) == (98, 47)
    assert reservation.status == Reservation.Status.RESERVED
    assert sorted((i["product_id"], i["quantity"]) for i in reservation.items) == sorted(
        [(product("PROD-A").pk, 2), (product("PROD-B").pk, 3)]
    )


def test_reserve_is_all_or_nothing(catalog: None) -> None:
    # Lines are taken in product-id order, so PROD-A is decremented before PROD-E runs out.
    assert product("PROD-A").pk < product("PROD-E").pk
    with pytest.raises(OutOfStock, match=r"PROD-E \(wanted 5, 1 left\)"):
        reserve_stock(uuid.uuid4(), [line("PROD-E", 5), line("PROD-A", 2)])
    assert (product("PROD-A").stock, product("PROD-E").stock) == (100, 1)
    assert not Reservation.objects.exists()


def test_reserve_refuses_an_unknown_product(catalog: None) -> None:
    with pytest.raises(OutOfStock, match="product 99999"):
        reserve_stock(uuid.uuid4(), [line("PROD-A", 1), StockLine(product_id=99999, quantity=1)])
    assert product("PROD-A").stock == 100


def test_reserve_is_idempotent_per_order(catalog: None) -> None:
    order_id = uuid.uuid4()
    first = reserve_stock(order_id, [line("PROD-A", 2)])
    again = reserve_stock(order_id, [line("PROD-A", 2)])
    assert again.pk == first.pk
    assert product("PROD-A").stock == 98
    assert Reservation.objects.count() == 1


def test_the_last_unit_goes_to_one_order_only(catalog: None) -> None:
    reserve_stock(uuid.uuid4(), [line("PROD-E", 1)])
    with pytest.raises(OutOfStock):
        reserve_stock(uuid.uuid4(), [line("PROD-E", 1)])
    assert product("PROD-E").stock == 0


def test_release_returns_the_stock_once(catalog: None) -> None:
    order_id = uuid.uuid4()
    reserve_stock(order_id, [line("PROD-A", 2), line("PROD-B", 1)])
    released = release_stock(order_id)
    assert sorted(i["quantity"] for i in released) == [1, 2]
    assert (product("PROD-A").stock, product("PROD-B").stock) == (100, 50)
    assert release_stock(order_id) == []
    assert (product("PROD-A").stock, product("PROD-B").stock) == (100, 50)
    assert Reservation.objects.get(order_id=order_id).status == Reservation.Status.RELEASED


def test_a_release_before_the_reservation_makes_the_late_reservation_fail(catalog: None) -> None:
    order_id = uuid.uuid4()
    assert release_stock(order_id) == []
    with pytest.raises(AlreadyReleased, match="cancelled before its stock was reserved"):
        reserve_stock(order_id, [line("PROD-A", 2)])
    assert product("PROD-A").stock == 100
    assert issubclass(AlreadyReleased, OutOfStock)  # handlers treat it as a refusal, not a crash


# --- fraud ----------------------------------------------------------------------------------------------------------


def test_mallory_buying_a_grinder_is_flagged() -> None:
    result = score(total=Decimal("1250.00"), quantities=[1], email="mallory@mailinator.com")
    assert result.value == 0.85
    assert result.flagged
    assert len(result.reasons) == 2
    assert any("high order value" in r for r in result.reasons)
    assert any("mailinator.com" in r for r in result.reasons)


def test_ada_buying_two_cups_is_not_flagged() -> None:
    result = score(total=Decimal("49.98"), quantities=[2], email="ada@example.com")
    assert result.value == 0
    assert not result.flagged
    assert result.reasons == ()


@pytest.mark.parametrize(
    ("total", "quantities", "email", "expected"),
    [
        (Decimal("1000"), [1], "ada@example.com", 0.5),  # the high-value rule is inclusive
        (Decimal("999.99"), [1], "ada@example.com", 0.0),
        (Decimal("10"), [20], "ada@example.com", 0.2),
        (Decimal("10"), [19], "x@MAILINATOR.COM", 0.35),  # domains compare case-insensitively
        (Decimal("5000"), [50], "x@trashmail.com", 1.0),  # capped at 1
    ],
)
def test_score_rules(total: Decimal, quantities: list[int], email: str, expected: float) -> None:
    assert score(total=total, quantities=quantities, email=email).value == expected


def test_the_threshold_is_strictly_above_point_eight() -> None:
    assert FLAG_THRESHOLD == 0.8
    assert score(total=Decimal("1000"), quantities=[20], email="a@example.com").flagged is False  # 0.7


def test_assess_order_scores_once(catalog: None) -> None:
    mallory = Customer.objects.get(email="mallory@mailinator.com")
    grinder = product("PROD-C")
    items = [PricedLine(product_id=grinder.pk, sku="PROD-C", quantity=1, unit_price=grinder.price)]
    order_id = uuid.uuid4()
    first = assess_order(order_id, user_id=mallory.pk, items=items, total=Decimal("1250.00"))
    assert (first.score, first.flagged) == (0.85, True)
    again = assess_order(order_id, user_id=mallory.pk, items=items, total=Decimal("1.00"))
    assert again.pk == first.pk and again.score == 0.85


# --- orders ---------------------------------------------------------------------------------------------------------


def _field_error(**kwargs: object) -> OrderError:
    with pytest.raises(OrderError) as info:
        place_order(**kwargs)  # type: ignore[arg-type]
    assert not Order.objects.exists()
    return info.value


def test_an_unknown_product_names_its_line(catalog: None) -> None:
    ada = Customer.objects.get(email="ada@example.com")
    error = _field_error(customer_id=ada.pk, items=[LineRequest(product_id=99999, quantity=1)], mode="event")
    assert error.field == "items.0.product_id"
    assert error.status == 422


def test_an_unknown_product_on_a_later_line_names_that_line(catalog: None) -> None:
    ada = Customer.objects.get(email="ada@example.com")
    items = [LineRequest(product_id=product("PROD-A").pk, quantity=1), LineRequest(product_id=99999, quantity=1)]
    assert _field_error(customer_id=ada.pk, items=items, mode="event").field == "items.1.product_id"


def test_an_unknown_customer_names_user_id(catalog: None) -> None:
    error = _field_error(customer_id=99999, items=[LineRequest(product_id=product("PROD-A").pk, quantity=1)])
    assert error.field == "user_id"


@pytest.mark.parametrize("quantity", [0, -1, 1001])
def test_a_quantity_out_of_range_names_its_line(catalog: None, quantity: int) -> None:
    ada = Customer.objects.get(email="ada@example.com")
    items = [LineRequest(product_id=product("PROD-A").pk, quantity=1), LineRequest(product("PROD-B").pk, quantity)]
    assert _field_error(customer_id=ada.pk, items=items, mode="command").field == "items.1.quantity"
    assert _field_error(customer_id=ada.pk, items=items[1:], mode="command").field == "items.0.quantity"


def test_an_unknown_mode_names_mode(catalog: None) -> None:
    ada = Customer.objects.get(email="ada@example.com")
    items = [LineRequest(product_id=product("PROD-A").pk, quantity=1)]
    assert _field_error(customer_id=ada.pk, items=items, mode="telepathy").field == "mode"


def test_no_items_names_items(catalog: None) -> None:
    ada = Customer.objects.get(email="ada@example.com")
    assert _field_error(customer_id=ada.pk, items=[], mode="event").field == "items"


def test_a_valid_order_totals_its_lines(catalog: None, recorded: object) -> None:
    ada = Customer.objects.get(email="ada@example.com")
    order = place_order(
        customer_id=ada.pk,
        items=[
            LineRequest(product("PROD-A").pk, 2),
            LineRequest(product("PROD-A").pk, 1),
            LineRequest(product("PROD-D").pk, 4),
        ],
        mode="event",
    )
    assert order.total == Decimal("24.99") * 3 + Decimal("4.50") * 4
    assert sorted(order.lines.values_list("sku", "quantity")) == [("PROD-A", 3), ("PROD-D", 4)]
    assert order.status == Order.Status.PLACED
