"""Loads the demo catalog without ever destroying data, unless asked to start over.

``make run`` seeds on every start, and a shop that is running has stock reserved by open orders:
overwriting it would double-count those reservations (a later cancel would release them onto the
reset value, above the seeded stock). So by default ``seed_catalog`` only creates the products
and customers that are missing and leaves existing rows, their stock included, as they are.
``reset=True`` (``manage.py seed_catalog --reset``) is the explicit way to restore the seeded
values; only an owner of the whole database (the embedded demo, a test) should use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass
class SeedReport:
    """What one seeding did, by SKU and e-mail: created (was missing), kept (left as it was) or
    reset (overwritten with the seeded values, only with ``reset=True``)."""

    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    reset: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One line per outcome that happened, e.g. ``created: PROD-A, ada@example.com``."""
        outcomes = (("created", self.created), ("kept", self.kept), ("reset", self.reset))
        return [f"{what}: {', '.join(rows)}" for what, rows in outcomes if rows]


@transaction.atomic
def seed_catalog(*, reset: bool = False) -> SeedReport:
    """Create the demo products and customers that are missing; with ``reset``, also restore
    the seeded name, price and stock of those that exist (see the module's docstring)."""
    report = SeedReport()
    for sku, name, price, stock in PRODUCTS:
        seeded = {"name": name, "price": price, "stock": stock}
        _, created = (
            Product.objects.update_or_create(sku=sku, defaults=seeded)
            if reset
            else Product.objects.get_or_create(sku=sku, defaults=seeded)
        )
        _record(report, sku, created=created, reset=reset)
    for name, email in CUSTOMERS:
        _, created = (
            Customer.objects.update_or_create(email=email, defaults={"name": name})
            if reset
            else Customer.objects.get_or_create(email=email, defaults={"name": name})
        )
        _record(report, email, created=created, reset=reset)
    return report


def _record(report: SeedReport, key: str, *, created: bool, reset: bool) -> None:
    if created:
        report.created.append(key)
    elif reset:
        report.reset.append(key)
    else:
        report.kept.append(key)
