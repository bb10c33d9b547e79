"""How an order announces what happened, one module per mode.

``commanding`` tells each downstream service what to do, and so names every one of them.
``eventing`` states facts and names nobody. Compare the two files: that is the lesson.

Each function receives the lifecycle event's ``data`` that the service has just applied to the
order row; event mode records and publishes exactly that, command mode uses what it needs.
"""

from __future__ import annotations

from typing import Any, Protocol

from messaging.kernel.envelope import Envelope
from orders.flows import commanding, eventing
from orders.models import FlowMode, Order

Data = dict[str, Any]


class OrderFlow(Protocol):
    def placed(self, order: Order, *, data: Data) -> None: ...
    def confirmed(self, order: Order, *, data: Data, cause: Envelope | None) -> None: ...
    def cancelled(self, order: Order, *, data: Data, cause: Envelope | None) -> None: ...
    def rejected(self, order: Order, *, data: Data, cause: Envelope) -> None: ...
    def timed_out(self, order: Order, *, data: Data, cause: Envelope) -> None: ...
    def held(self, order: Order, *, data: Data, cause: Envelope | None) -> None: ...
    def awaiting_review(self, order: Order, *, data: Data, cause: Envelope) -> None: ...
    def released(self, order: Order, *, data: Data) -> None: ...
    def rejected_on_review(self, order: Order, *, data: Data) -> None: ...
    def progressed(self, order: Order, *, event_type: str, data: Data, cause: Envelope | None = None) -> None: ...


FLOWS: dict[str, OrderFlow] = {FlowMode.COMMAND: commanding, FlowMode.EVENT: eventing}


def flow_for(mode: str) -> OrderFlow:
    return FLOWS[mode]
