"""Prototypes of next steps, measured by bench/eventstore_steps.py before they are built for real.

``version_in_transition``: an event-mode transition writes the order row once, not twice.
Today ``orders.rows.apply_event`` saves the changed fields, then the flow's hook appends the
event and saves ``version`` in a second UPDATE (orders/flows/eventing.py ``_record``). Here, for
event-mode orders only, ``apply_event`` leaves the changed fields unsaved and the hook saves
them with the version in one UPDATE, after the append. The rows and events written are the
same, in the same transaction; only the number of UPDATEs changes (one fewer per transaction).

Why only a prototype: built for real, the save moves out of ``apply_event`` into the flow, for
every service that applies an event (orders/services.py, orders/review.py) in event mode,
while command mode, which records no event, must still save in ``apply_event``; that is a
change of the services' contract, and this measures first whether it is worth one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

#: The attribute a deferred transition's unsaved fields wait in, on the order instance.
PENDING = "_prototype_pending_fields"


@contextlib.contextmanager
def version_in_transition() -> Iterator[None]:
    """Patch the services for the duration: event-mode transitions save once, with the version."""
    from core.eventstore import store
    from messaging.kernel.envelope import Envelope
    from messaging.kernel.wiring import bus
    from orders import lifecycle, review, rows, services
    from orders.flows import eventing
    from orders.models import FlowMode, Order

    original_apply, original_record = rows.apply_event, eventing._record
    # The names the services call, patched where they are looked up.
    seams = [(services, "_apply"), (review, "apply_event"), (eventing, "_record")]

    def apply_deferred(order: Order, event_type: str, data: dict[str, Any]) -> None:
        if order._state.adding or order.mode != FlowMode.EVENT:
            original_apply(order, event_type, data)
            return
        before = rows.row_state(order)
        after = lifecycle.evolve(before, event_type, data)
        changed = [name for name in rows.ROW_FIELDS if after.get(name) != before.get(name) and name in after]
        for name in changed:
            setattr(order, rows.ROW_FIELDS[name], after[name])
        setattr(order, PENDING, [*getattr(order, PENDING, []), *changed, "updated_at"])

    def record_with_version(event_type: str, order: Order, data: dict[str, Any], *, cause: Envelope | None) -> None:
        envelope = bus().events.publish(
            event_type, data, producer=eventing.PRODUCER, correlation_id=str(order.id), caused_by=cause
        )
        store.append(str(order.id), [envelope], expected_version=order.version, records=False)
        order.version += 1
        pending = list(dict.fromkeys(getattr(order, PENDING, [])))
        setattr(order, PENDING, [])
        order.save(update_fields=[*pending, "version"])

    for (module, name), patch in zip(seams, (apply_deferred, apply_deferred, record_with_version), strict=True):
        setattr(module, name, patch)
    try:
        yield
    finally:
        for (module, name), original in zip(seams, (original_apply, original_apply, original_record), strict=True):
            setattr(module, name, original)
