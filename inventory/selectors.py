from __future__ import annotations

import uuid

from inventory.models import Reservation


def reservation_for(order_id: uuid.UUID) -> Reservation | None:
    return Reservation.objects.filter(order_id=order_id).first()


def reserved_quantity(product_id: int) -> int:
    total = 0
    for reservation in Reservation.objects.filter(status=Reservation.Status.RESERVED):
        total += sum(i["quantity"] for i in reservation.items if i["product_id"] == product_id)
    return total
