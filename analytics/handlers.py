"""Event mode: analytics records sales.

Departure from the lesson's sketch: the lesson records on ``order.placed``. Here a sale counts
once stock is confirmed (``order.confirmed``), so an order that fails its reservation never
shows up as revenue, in either mode. Like the lesson, analytics ignores ``order.cancelled``.
"""

from __future__ import annotations

from analytics import services
from contracts.orders import OrderConfirmed
from messaging.kernel.envelope import Envelope
from messaging.kernel.subscriptions import Subscriber

analytics = Subscriber("analytics")


@analytics.on("order.confirmed")
def track_order(envelope: Envelope, event: OrderConfirmed) -> str:
    items_sold = sum(i.quantity for i in event.items)
    services.record_sale(event.order_id, revenue=event.total, items_sold=items_sold)
    return f"recorded revenue {event.total}, items sold {items_sold}"
