"""How an order announces what happened, one module per mode.

``commanding`` tells each downstream service what to do, and so names every one of them.
``eventing`` states facts and names nobody. Compare the two files: that is the lesson.
"""

from __future__ import annotations

from typing import Protocol

from orders.flows import commanding, eventing
from orders.models import FlowMode, Order
from shop.messaging.envelope import Envelope


class OrderFlow(Protocol):
    def placed(self, order: Order) -> None: ...
    def confirmed(self, order: Order, *, cause: Envelope) -> None: ...
    def cancelled(self, order: Order, *, cause: Envelope | None) -> None: ...
    def rejected(self, order: Order, *, cause: Envelope) -> None: ...


FLOWS: dict[str, OrderFlow] = {FlowMode.COMMAND: commanding, FlowMode.EVENT: eventing}


def flow_for(mode: str) -> OrderFlow:
    return FLOWS[mode]
