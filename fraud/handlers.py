"""Event mode: the lesson's FraudDetectionService. Adding it changed nothing in orders."""

from __future__ import annotations

from fraud import services
from shop.contracts.orders import OrderPlaced
from shop.messaging.bootstrap import bus
from shop.messaging.envelope import Envelope
from shop.messaging.subscriptions import Subscriber

SERVICE = "fraud"
fraud = Subscriber(SERVICE)


@fraud.on("order.placed")
def check_fraud(envelope: Envelope, event: OrderPlaced) -> str:
    assessment = services.assess_order(event.order_id, user_id=event.user_id, items=event.items, total=event.amount)
    if assessment.flagged:
        bus().events.publish(
            "order.flagged",
            {"order_id": str(event.order_id), "risk_score": assessment.score, "reasons": assessment.reasons},
            producer=SERVICE,
            caused_by=envelope,
        )
        return f"risk {assessment.score}: flagged ({'; '.join(assessment.reasons)})"
    return f"risk {assessment.score}: not flagged"
