from __future__ import annotations

from analytics import services
from shop.contracts.analytics import RecordSale
from shop.messaging.envelope import Envelope
from shop.messaging.worker import command_handler


@command_handler("analytics.record", service="analytics")
def record(envelope: Envelope, command: RecordSale) -> None:
    services.record_sale(command.order_id, revenue=command.revenue, items_sold=command.items_sold)
