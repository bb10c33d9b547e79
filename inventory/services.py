"""Stock reservation. The only code that writes ``Product.stock``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.db import connections, router, transaction
from django.db.models import F

from catalog.models import Product
from contracts.common import StockLine
from core.rows import Select
from inventory.models import Reservation

#: The reservation's locked read, the first statement of every reservation: SQL built once
#: (core/rows.py says why); ``order_id`` is unique.
_reservation = Select(Reservation, "order_id", for_update=True)
_take: dict[str, str] = {}


def _take_stock(product_id: int, quantity: int) -> int:
    """``UPDATE product SET stock = stock - n WHERE id = %s AND stock >= n``: the ORM's
    ``filter(...).update(stock=F(...))``, built once per database; how many rows it changed."""
    connection = connections[router.db_for_write(Product)]
    sql = _take.get(connection.vendor)
    if sql is None:
        quote = connection.ops.quote_name
        key = Product._meta.pk
        assert key is not None
        stock, pk = quote(str(Product._meta.get_field("stock").column)), quote(str(key.column))
        sql = _take[connection.vendor] = (
            f"UPDATE {quote(Product._meta.db_table)} SET {stock} = {stock} - %s WHERE {pk} = %s AND {stock} >= %s"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [quantity, product_id, quantity])
        return int(cursor.rowcount)


class OutOfStock(Exception):
    pass


class AlreadyReleased(OutOfStock):
    pass


def reserve_stock(order_id: uuid.UUID, lines: Sequence[StockLine]) -> Reservation:
    """Reserve every line or none. Calling it again for the same order changes nothing."""
    with transaction.atomic():
        existing: Reservation | None = _reservation(order_id)
        if existing is not None:
            if existing.status == Reservation.Status.RELEASED:
                raise AlreadyReleased(f"order {order_id} was cancelled before its stock was reserved")
            return existing
        # Lock rows in one order (by product id) so concurrent reservations cannot deadlock.
        for line in sorted(lines, key=lambda x: x.product_id):
            updated = _take_stock(line.product_id, line.quantity)
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
