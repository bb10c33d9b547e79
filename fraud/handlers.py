"""Event mode: the lesson's FraudDetectionService. Adding it changed nothing in orders.

Every order gets a verdict, stated as a fact: ``order.flagged`` (the lesson's, risk > 0.8) or
``order.cleared``. Orders confirms nothing before one of them (fraud/apps.py says it must wait).
"""

from __future__ import annotations

import contracts.fraud  # noqa: F401  (registers order.flagged and order.cleared, published below)
from contracts.orders import OrderPlaced
from fraud import services
from messaging.kernel.envelope import Envelope
from messaging.kernel.subscriptions import Subscriber
from messaging.kernel.wiring import bus

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
    # The other verdict is a fact too: orders waits for one or the other before it confirms.
    bus().events.publish(
        "order.cleared",
        {"order_id": str(event.order_id), "risk_score": assessment.score, "reasons": assessment.reasons},
        producer=SERVICE,
        caused_by=envelope,
    )
    return f"risk {assessment.score}: cleared"
