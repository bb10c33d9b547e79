"""Read-only catalog endpoints, so API clients can find valid product and customer ids."""

from __future__ import annotations

from decimal import Decimal

from django.http import HttpRequest
from ninja import Router, Schema

from catalog import selectors
from catalog.models import Customer, Product

router = Router(tags=["catalog"])


class ProductOut(Schema):
    id: int
    sku: str
    name: str
    price: Decimal
    stock: int


class CustomerOut(Schema):
    id: int
    name: str
    email: str


@router.get("/products", response=list[ProductOut])
def list_products(request: HttpRequest) -> list[Product]:
    """Stock is shown as it stands now; only the inventory service changes it."""
    return selectors.products()


@router.get("/customers", response=list[CustomerOut])
def list_customers(request: HttpRequest) -> list[Customer]:
    """Demo data: the ids here are what ``user_id`` in POST /api/orders refers to."""
    return selectors.customers()
