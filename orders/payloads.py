"""Order data as it goes into messages, shared by both modes so only the *sending* differs."""

from __future__ import annotations

from typing import Any

from orders.models import Order


def order_ref(order: Order) -> dict[str, Any]:
    return {"order_id": str(order.id)}


def priced_lines(order: Order) -> list[dict[str, Any]]:
    return [
        {"product_id": line.product_id, "sku": line.sku, "quantity": line.quantity, "unit_price": str(line.unit_price)}
        for line in order.lines.all()
    ]


def stock_lines(order: Order) -> list[dict[str, Any]]:
    return [{"product_id": line.product_id, "quantity": line.quantity} for line in order.lines.all()]
