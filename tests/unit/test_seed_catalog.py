"""Seeding the demo catalog never destroys data; ``--reset`` is the explicit way to start over.

The bug this guards against: ``make run`` seeds on every start, and seeding used to overwrite the
stock. With an order's stock reserved, a restart put the stock back to its seeded value, and the
order's cancellation then released its reservation on top of that: more stock than ever existed.
"""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import call_command

from catalog.models import Customer, Product
from catalog.services import CUSTOMERS, PRODUCTS, seed_catalog
from contracts.common import StockLine
from inventory.services import release_stock, reserve_stock

pytestmark = pytest.mark.django_db

SKUS = [sku for sku, *_ in PRODUCTS]
EMAILS = [email for _, email in CUSTOMERS]


def stock(sku: str) -> int:
    return Product.objects.get(sku=sku).stock


def test_an_empty_database_gets_every_product_and_customer() -> None:
    report = seed_catalog()
    assert report.created == SKUS + EMAILS and not report.kept and not report.reset
    assert {sku: stock(sku) for sku in SKUS} == {sku: seeded for sku, _, _, seeded in PRODUCTS}
    assert set(Customer.objects.values_list("email", flat=True)) == set(EMAILS)


def test_seeding_again_keeps_reserved_stock_and_edited_rows() -> None:
    seed_catalog()
    cup = Product.objects.get(sku="PROD-A")
    order_id = uuid.uuid4()
    reserve_stock(order_id, [StockLine(product_id=cup.pk, quantity=3)])
    Customer.objects.filter(email="ada@example.com").update(name="Ada King")
    Product.objects.filter(sku="PROD-B").update(price="45.00")

    report = seed_catalog()

    assert report.kept == SKUS + EMAILS and not report.created and not report.reset
    assert stock("PROD-A") == 97, "the reservation still holds 3 cups"
    assert Customer.objects.get(email="ada@example.com").name == "Ada King"
    assert str(Product.objects.get(sku="PROD-B").price) == "45.00"
    release_stock(order_id)  # the order is cancelled after the restart
    assert stock("PROD-A") == 100, "back to the seeded stock, not above it"


def test_seeding_creates_only_what_is_missing() -> None:
    seed_catalog()
    Product.objects.filter(sku="PROD-E").delete()
    Product.objects.filter(sku="PROD-D").update(stock=7)
    report = seed_catalog()
    assert report.created == ["PROD-E"]
    assert "PROD-D" in report.kept and stock("PROD-D") == 7
    assert stock("PROD-E") == 1


def test_reset_restores_the_seeded_values() -> None:
    seed_catalog()
    Product.objects.filter(sku="PROD-A").update(stock=3, name="Chipped cup")
    Customer.objects.filter(email="ada@example.com").update(name="Ada King")
    report = seed_catalog(reset=True)
    assert report.reset == SKUS + EMAILS and not report.created and not report.kept
    cup = Product.objects.get(sku="PROD-A")
    assert (cup.stock, cup.name) == (100, "Espresso cup")
    assert Customer.objects.get(email="ada@example.com").name == "Ada Lovelace"


def test_the_command_says_what_it_created_kept_and_reset() -> None:
    first, second, third = StringIO(), StringIO(), StringIO()
    call_command("seed_catalog", stdout=first)
    Product.objects.filter(sku="PROD-A").update(stock=42)
    call_command("seed_catalog", stdout=second)
    assert stock("PROD-A") == 42
    call_command("seed_catalog", "--reset", stdout=third)
    assert stock("PROD-A") == 100

    assert "catalog created: PROD-A, PROD-B" in first.getvalue()
    assert "catalog: 8 created, 0 kept, 0 reset" in first.getvalue()
    assert "catalog kept: PROD-A, PROD-B" in second.getvalue()
    assert "catalog: 0 created, 8 kept, 0 reset" in second.getvalue()
    assert "catalog: 0 created, 0 kept, 8 reset" in third.getvalue()
