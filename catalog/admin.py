"""Reference data, editable here. Stock is set when a product is added; after that only the
inventory service changes it (inventory/services.py), so it is read-only on the change page."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin import ModelAdmin
from django.http import HttpRequest

from catalog.models import Customer, Product


@admin.register(Product)
class ProductAdmin(ModelAdmin[Product]):
    list_display = ["sku", "name", "price", "stock"]
    search_fields = ["sku", "name"]

    def get_readonly_fields(self, request: HttpRequest, obj: Product | None = None) -> list[str]:
        return ["stock"] if obj is not None else []


@admin.register(Customer)
class CustomerAdmin(ModelAdmin[Customer]):
    list_display = ["name", "email"]
    search_fields = ["name", "email"]
