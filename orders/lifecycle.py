"""The order's lifecycle: which changes are allowed, and what each event does to the state.

``evolve`` is the lesson's ``getCurrentState`` reducer step, as real code. The services apply
it to the order row in both modes; event mode also appends the event to the order's stream, so
the current state can be rebuilt by folding the stream (``replay``) and any earlier state by
folding a prefix of it. Command mode overwrites the row and keeps no history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from functools import reduce
from typing import Any

from django.utils.dateparse import parse_datetime

from orders.errors import InvalidTransition

State = dict[str, Any]

PLACED, CONFIRMED, ON_HOLD, CANCELLED = "placed", "confirmed", "on_hold", "cancelled"
PAID, PACKED, SHIPPED = "paid", "packed", "shipped"

#: action -> statuses it is allowed from (release and reject: a person's decision on a hold)
ALLOWED = {
    "pay": {PLACED, CONFIRMED},
    "pack": {PAID},
    "ship": {PACKED},
    "cancel": {PLACED, CONFIRMED, ON_HOLD, PAID},
    "release": {ON_HOLD},
    "reject": {ON_HOLD},
}

#: The lesson's event names, so its own example replays unchanged.
LESSON_NAMES = {
    "OrderPlaced": "order.placed",
    "PaymentReceived": "order.paid",
    "OrderPacked": "order.packed",
    "OrderShipped": "order.shipped",
}


def check(action: str, status: str) -> None:
    """Raise InvalidTransition (HTTP 409) unless ``action`` is allowed from ``status``."""
    if status not in ALLOWED[action]:
        allowed = ", ".join(sorted(ALLOWED[action]))
        raise InvalidTransition("status", f"cannot {action} an order that is {status} (only from: {allowed})")


def evolve(state: State, event_type: str, data: Mapping[str, Any]) -> State:
    """One step of the fold: the state after ``event_type`` happened."""
    match LESSON_NAMES.get(event_type, event_type):
        case "order.placed":
            total = data.get("amount", data.get("total"))
            return {**state, "status": PLACED, "total": Decimal(str(total)), "currency": data.get("currency")}
        case "order.confirmed":
            status = CONFIRMED if state.get("status") == PLACED else state.get("status")
            confirmed_at = _when(data.get("confirmed_at"))
            # Secured now, unless the order already waited (order.authorized) for a verdict or a person.
            authorized_at = state.get("authorized_at") or confirmed_at
            return {**state, "status": status, "reserved_at": confirmed_at, "authorized_at": authorized_at}
        case "order.risk_scored":
            return {**state, "risk_score": data.get("risk_score")}
        case "order.held":
            status = ON_HOLD if state.get("status") in {PLACED, CONFIRMED, PAID} else state.get("status")
            reasons = "; ".join(data.get("reasons", []))
            return {**state, "status": status, "risk_score": data.get("risk_score"), "hold_reason": reasons}
        case "order.authorized":
            return {**state, "authorized_at": _when(data.get("authorized_at"))}
        case "order.released":
            return {**state, "status": data.get("status"), **_review(data)}
        case "order.cancelled":
            return {**state, "status": CANCELLED, "cancel_reason": data.get("reason", ""), **_review(data)}
        case "order.paid":
            return {**state, "status": PAID, "payment_method": data.get("method")}
        case "order.packed":
            return {**state, "status": PACKED, "warehouse": data.get("warehouse")}
        case "order.shipped":
            return {
                **state,
                "status": SHIPPED,
                "carrier": data.get("carrier"),
                "tracking": data.get("tracking"),
                "shipped_at": _when(data.get("shipped_at")),
            }
        case _:
            return state


def released_status(state: State) -> str:
    """Where a released hold returns to: the status the order had before it was held."""
    if state.get("payment_method"):
        return PAID
    return CONFIRMED if state.get("reserved_at") else PLACED


def _review(data: Mapping[str, Any]) -> State:
    """Who released or rejected a held order, when the event says (a customer's cancel does not)."""
    if not data.get("reviewed_by"):
        return {}
    return {"reviewed_by": data["reviewed_by"], "reviewed_at": _when(data.get("reviewed_at"))}


def _when(value: Any) -> datetime | None:
    """Timestamps arrive as ISO strings (JSON); the state holds datetimes, like the row."""
    return parse_datetime(value) if isinstance(value, str) else value


def replay(events: Iterable[tuple[str, Mapping[str, Any]]]) -> State:
    """The lesson's ``getCurrentState``: fold (type, data) pairs into the current state."""
    return reduce(lambda state, event: evolve(state, *event), events, {})
