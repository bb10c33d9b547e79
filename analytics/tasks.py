from __future__ import annotations

from analytics import services
from contracts.analytics import RecordSale
from messaging.kernel.envelope import Envelope
from messaging.kernel.subscriptions import command_handler


@command_handler("analytics.record", service="analytics")
def record(envelope: Envelope, command: RecordSale) -> dict[str, str]:
    services.record_sale(command.order_id, revenue=command.revenue, items_sold=command.items_sold)
    return {"revenue": str(command.revenue), "items_sold": str(command.items_sold)}
