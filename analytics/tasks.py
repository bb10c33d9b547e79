from __future__ import annotations

from analytics import services
from contracts.analytics import RecordSale
from messaging.celery_adapter.worker import command_handler
from messaging.kernel.envelope import Envelope


@command_handler("analytics.record", service="analytics")
def record(envelope: Envelope, command: RecordSale) -> dict[str, str]:
    services.record_sale(command.order_id, revenue=command.revenue, items_sold=command.items_sold)
    return {"revenue": str(command.revenue), "items_sold": str(command.items_sold)}
