"""How an order announces what happened, one module per mode.

``commanding`` tells each downstream service what to do, and so names every one of them.
``eventing`` states facts and names nobody. Compare the two files: that is the lesson.

Each function receives the lifecycle event's ``data`` that the service has just applied to the
order row; event mode records and publishes exactly that, command mode uses what it needs.

``OrderFlow`` is only what both flows share: the hooks mode-neutral code (orders/services.py,
orders/review.py) calls through ``flow_for(order.mode)``, each implemented by both modules. What
one mode alone needs stays out of it and is called by name: command mode's saga (its plan
``FULFILMENT`` and ``advance_saga``, which the reply task in orders/tasks.py calls directly),
event mode's stream append. Nothing the mode-neutral code calls is missing from either flow.

This package imports both flows, and orders/services.py imports this package: so neither flow
imports services (that would be an import cycle).
"""

from __future__ import annotations

from typing import Any, Protocol

from messaging.kernel.envelope import Envelope
from orders.flows import commanding, eventing
from orders.models import FlowMode, Order

Data = dict[str, Any]


class OrderFlow(Protocol):
    """The order's lifecycle, as each mode announces it (command mode's ``progressed`` sends
    nothing: it keeps no history, but the hook is where event mode records one)."""

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
