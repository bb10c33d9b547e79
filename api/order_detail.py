"""``GET /api/orders/{id}``: one order, seen from every side the project keeps.

- the **write model**: the order row, overwritten in place at each change (both modes);
- its **history** (event mode): the order's stream in the event store and the state replayed
  from it, with any field where the row disagrees (command mode keeps no history);
- the **read model**: the projector's summary row and how far the projector lags behind the
  event store;
- the **messages** the order caused, from the message log.

The order service may not import the read model (the projector subscribes to orders' events,
not the other way round; tests/unit/test_coupling.py), so this view is the project's: ``shop`` is
the composition root that knows every app.
"""

from __future__ import annotations

import uuid

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from orders import replay
from orders.errors import OrderNotFound
from orders.models import FlowMode, Order
from orders.schemas import DriftOut, ErrorOut, HistoryOut, MessageOut, OrderOut, StreamEventOut
from orders.selectors import messages_caused_by, order_with_lines
from readmodel import selectors as readmodel
from readmodel.api import LagOut, SummaryOut

router = Router(tags=["orders"])


class ReadModelOut(Schema):
    """The query side: what the projector has made of the order's events so far."""

    summary: SummaryOut | None = Field(
        description="The projector's summary row for this order: null for a command-mode order, and for an "
        "event-mode order until the projector has caught up with it."
    )
    lag: LagOut = Field(description="How far the projector is behind the event store (all orders).")


class OrderDetailOut(OrderOut):
    history: HistoryOut
    read_model: ReadModelOut
    messages: list[MessageOut] = Field(description="Everything this order caused, in either mode, oldest first.")


@router.get("/orders/{id}", response={200: OrderDetailOut, 404: ErrorOut, 422: ErrorOut})
def order_detail(request: HttpRequest, id: uuid.UUID) -> OrderDetailOut:
    """The write model next to its history, the read model and the message log."""
    order = order_with_lines(id)
    if order is None:
        raise OrderNotFound("id", f"no order with id {id}")
    return OrderDetailOut.model_validate(
        {
            **OrderOut.model_validate(order).model_dump(),
            "history": history(order),
            "read_model": read_model(order),
            "messages": list(messages_caused_by(order.id)),
        }
    )


def read_model(order: Order) -> ReadModelOut:
    # The lag is read first: the summary read after it is at least as fresh as it says.
    lag = readmodel.lag()
    summary = readmodel.summary_for(order.id)
    return ReadModelOut.model_validate({"summary": summary, "lag": lag})


def history(order: Order) -> HistoryOut:
    try:
        replayed, drift = replay.audit(order)
    except replay.NoHistory as exc:
        note = replay.NO_HISTORY_NOTE if order.mode == FlowMode.COMMAND else exc.message
        return HistoryOut(available=False, note=note)
    agreement = (
        "the order row matches it"
        if not drift
        else "the order row differs from it in: " + ", ".join(d.field for d in drift)
    )
    return HistoryOut(
        available=True,
        note=f"the state below is the replay of the order's {replayed.stream_version} events; {agreement}",
        version=replayed.stream_version,
        state=replayed.state,
        events=[StreamEventOut.model_validate(event) for event in replayed.events],
        drift=[
            DriftOut(
                field=d.field, row_value=replay.jsonable(d.row_value), replayed_value=replay.jsonable(d.replayed_value)
            )
            for d in drift
        ],
    )
