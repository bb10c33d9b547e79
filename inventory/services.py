"""Stock reservation. The only code that writes ``Product.stock``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.db import transaction
from django.db.models import F

from catalog.models import Product
from contracts.common import StockLine
from inventory.models import Reservation


class OutOfStock(Exception):
    pass


class AlreadyReleased(OutOfStock):
    pass


def reserve_stock(order_id: uuid.UUID, lines: Sequence[StockLine]) -> Reservation:
    """Reserve every line or none. Calling it again for the same order changes nothing."""
    with transaction.atomic():
        existing = Reservation.objects.select_for_update().filter(order_id=order_id).first()
        if existing is not None:
            if existing.status == Reservation.Status.RELEASED:
                raise AlreadyReleased(f"order {order_id} was cancelled before its stock was reserved")
            return existing
        # Lock rows in one order (by product id) so concurrent reservations cannot deadlock.
        for line in sorted(lines, key=lambda x: x.product_id):
            updated = Product.objects.filter(pk=line.product_id, stock__gte=line.quantity).update(
                stock=F("stock") - line.quantity
            )
            if not updated:
                product = Product.objects.filter(pk=line.product_id).first()
                what = product.sku if product else f"product {line.product_id}"
                have = product.stock if product else 0
                raise OutOfStock(f"out of stock: {what} (wanted {line.quantity}, {have} left)")
        return Reservation.objects.create(
            order_id=order_id,
            status=Reservation.Status.RESERVED,
            items=[{"product_id": x.product_id, "quantity": x.quantity} for x in lines],
        )


def release_stock(order_id: uuid.UUID) -> list[dict[str, int]]:
    """Give back what was reserved for the order; returns the lines released (maybe none)."""
    with transaction.atomic():
        reservation, created = Reservation.objects.select_for_update().get_or_create(
            order_id=order_id, defaults={"status": Reservation.Status.RELEASED, "items": []}
        )
        if created or reservation.status == Reservation.Status.RELEASED:
            return []
        for item in sorted(reservation.items, key=lambda x: x["product_id"]):
            Product.objects.filter(pk=item["product_id"]).update(stock=F("stock") + item["quantity"])
        reservation.status = Reservation.Status.RELEASED
        reservation.save(update_fields=["status", "updated_at"])
        return list(reservation.items)
