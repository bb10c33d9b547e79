from __future__ import annotations

from collections.abc import Iterable

from catalog.models import Customer, Product
from core.rows import Select

#: The projector looks the customer up for every order it places on the dashboard: SQL built
#: once rather than compiled per call (core/rows.py says why).
_customer = Select(Customer, "id")


def products_by_id(ids: Iterable[int]) -> dict[int, Product]:
    return {p.pk: p for p in Product.objects.filter(pk__in=set(ids))}


def customer(customer_id: int) -> Customer | None:
    found: Customer | None = _customer(customer_id)
    return found


def products() -> list[Product]:
    return list(Product.objects.order_by("sku"))


def customers() -> list[Customer]:
    return list(Customer.objects.order_by("id"))
