"""Event mode: inventory decides for itself what an order event means for stock."""

from __future__ import annotations

from contracts.orders import OrderCancelled, OrderPlaced
from inventory import services
from messaging.kernel.envelope import Envelope
from messaging.kernel.subscriptions import Subscriber
from messaging.kernel.wiring import bus

SERVICE = "inventory"
inventory = Subscriber(SERVICE)


@inventory.on("order.placed")
def reserve_for_order(envelope: Envelope, event: OrderPlaced) -> str:
    try:
        reservation = services.reserve_stock(event.order_id, event.items)
    except services.OutOfStock as exc:
        # Out of stock is a business outcome, not a handler failure: state it as a fact.
        bus().events.publish(
            "inventory.reservation_failed",
            {"order_id": str(event.order_id), "reason": str(exc)},
            producer=SERVICE,
            caused_by=envelope,
        )
        return f"refused: {exc}"
    bus().events.publish(
        "inventory.reserved",
        {"order_id": str(event.order_id), "items": reservation.items},
        producer=SERVICE,
        caused_by=envelope,
    )
    return "reserved " + ", ".join(f"{i['quantity']} × product {i['product_id']}" for i in reservation.items)


@inventory.on("order.cancelled")
def release_for_order(envelope: Envelope, event: OrderCancelled) -> str:
    released = services.release_stock(event.order_id)
    if released:
        bus().events.publish(
            "inventory.released",
            {"order_id": str(event.order_id), "items": released},
            producer=SERVICE,
            caused_by=envelope,
        )
        return "released " + ", ".join(f"{i['quantity']} × product {i['product_id']}" for i in released)
    return "nothing was reserved"
