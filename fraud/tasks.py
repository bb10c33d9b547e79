from __future__ import annotations

from typing import Any

from contracts.fraud import CheckFraud
from fraud import services
from messaging.kernel.envelope import Envelope
from messaging.kernel.subscriptions import command_handler


@command_handler("fraud.check", service="fraud")
def check(envelope: Envelope, command: CheckFraud) -> dict[str, Any]:
    assessment = services.assess_order(
        command.order_id, user_id=command.user_id, items=command.items, total=command.total
    )
    return {"risk_score": assessment.score, "flagged": assessment.flagged, "reasons": assessment.reasons}
