"""Loads the demo catalog. Idempotent: running it twice resets the same rows."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from catalog.models import Customer, Product

PRODUCTS = [
    ("PROD-A", "Espresso cup", Decimal("24.99"), 100),
    ("PROD-B", "Pour-over kettle", Decimal("49.99"), 50),
    ("PROD-C", "Grinder", Decimal("1250.00"), 5),
    ("PROD-D", "Filter papers", Decimal("4.50"), 1000),
    ("PROD-E", "Limited-run roast", Decimal("19.00"), 1),
]

CUSTOMERS = [
    ("Ada Lovelace", "ada@example.com"),
    ("Grace Hopper", "grace@example.com"),
    # A disposable address: one of the fraud rules (fraud/scoring.py).
    ("Mallory Fake", "mallory@mailinator.com"),
]


@transaction.atomic
def seed_catalog() -> tuple[int, int]:
    for sku, name, price, stock in PRODUCTS:
        Product.objects.update_or_create(sku=sku, defaults={"name": name, "price": price, "stock": stock})
    for name, email in CUSTOMERS:
        Customer.objects.update_or_create(email=email, defaults={"name": name})
    return len(PRODUCTS), len(CUSTOMERS)
