"""Reference data every service may read: products and customers.

Stock lives on the product row for the learner's convenience, but only the inventory service
writes it (inventory/services.py), and a check constraint keeps it from going negative even
if code gets it wrong.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models


class Product(models.Model):
    sku = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))])
    stock = models.IntegerField(default=0)

    class Meta:
        ordering = ["sku"]
        constraints = [models.CheckConstraint(condition=models.Q(stock__gte=0), name="product_stock_not_negative")]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class Customer(models.Model):
    name = models.CharField(max_length=200)
    email = models.EmailField(unique=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"
