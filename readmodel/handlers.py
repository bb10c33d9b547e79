"""Event mode: the projector keeps the order summaries, subscribed like any other service.

It listens on its own queue, ``projector.events``, to every event of an order's stream. Adding it
changed nothing in the order service. Each pushed event is only a cue: the projector catches
that order's stream up from the event store (readmodel/services.py), so duplicates, late
arrivals and events overtaking one another all end in the same summary.
"""

from __future__ import annotations

from contracts.common import OrderRef
from messaging.kernel.envelope import Envelope
from messaging.kernel.subscriptions import Subscriber
from readmodel import services
from readmodel.projection import ORDER_STREAM_EVENTS

projector = Subscriber("projector")


def project(envelope: Envelope, event: OrderRef) -> str:
    applied = services.catch_up_stream(str(event.order_id))
    if not applied:
        return "already applied"
    return f"applied {applied} event{'s' if applied != 1 else ''} of the order's stream"


for _event_type in ORDER_STREAM_EVENTS:
    projector.on(_event_type)(project)
