from __future__ import annotations

from collections.abc import Iterable

from catalog.models import Customer, Product


def products_by_id(ids: Iterable[int]) -> dict[int, Product]:
    return {p.pk: p for p in Product.objects.filter(pk__in=set(ids))}


def customer(customer_id: int) -> Customer | None:
    return Customer.objects.filter(pk=customer_id).first()


def products() -> list[Product]:
    return list(Product.objects.order_by("sku"))


def customers() -> list[Customer]:
    return list(Customer.objects.order_by("id"))
