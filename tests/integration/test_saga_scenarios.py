"""The saga scenario table: the same failures in both styles, on every broker.

Command mode orchestrates (orders/saga.py walks ``FULFILMENT``); event mode choreographs
(inventory, payments and orders each react to the previous event). Each scenario must end in
the same state in both styles: order status, stock, money held, stock held, e-mails sent,
and nothing leaked (no reservation or authorization still held for a cancelled order).

How each row is staged: held orders are Mallory's (fraud flags her order at risk 0.85), then a
member of staff releases or rejects it; out of stock orders more than the shelf holds; a card token ending in
0002 is declined; one ending in 0003 is a slow issuer (SHOP_PAYMENT_SLOW_SECONDS, 4 s for the
test workers) while this test sets a 2 s deadline; the crash kills the orders worker with
SIGKILL before the order is placed and restarts it once inventory has reserved, so the saga
resumes from what the database holds.

The raw states per row are written to var/saga-scenarios.json and printed at the end of the run.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from inventory.models import Reservation
from notifications.models import SentEmail
from orders.models import Order, Saga
from payments.models import Authorization
from tests.integration.conftest import MODES
from tests.integration.harness import Flow
from tests.integration.workers import ROOT, WorkerGroup

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ADA = "ada@example.com"
SKU, QUANTITY = "PROD-A", 2
#: Mallory's espresso machine: risk 0.85 (high value, disposable e-mail), so fraud flags it.
MALLORY, RISKY_SKU = "mallory@mailinator.com", "PROD-C"
REPORT_PATH = ROOT / "var" / "saga-scenarios.json"
ROWS: list[dict[str, Any]] = []

#: What every style must end with, per scenario (stock as the change from before the order).
EXPECTED = {
    "success": {
        "order": "confirmed",
        "stock": -QUANTITY,
        "money held": True,
        "stock held": True,
        "emails": ["order-confirmation"],
    },
    "out of stock": {
        "order": "cancelled",
        "stock": 0,
        "money held": False,
        "stock held": False,
        "emails": ["order-cancelled"],
    },
    "payment declined": {
        "order": "cancelled",
        "stock": 0,
        "money held": False,
        "stock held": False,
        "emails": ["order-cancelled"],
    },
    "timeout": {
        "order": "cancelled",
        "stock": 0,
        "money held": False,
        "stock held": False,
        "emails": ["order-cancelled"],
    },
    "held, then released": {
        "order": "confirmed",
        "stock": -1,
        "money held": True,
        "stock held": True,
        "emails": ["order-confirmation"],
    },
    "held, then rejected": {
        "order": "cancelled",
        "stock": 0,
        "money held": False,
        "stock held": False,
        "emails": ["order-cancelled"],
    },
    "crash mid-saga": {
        "order": "confirmed",
        "stock": -QUANTITY,
        "money held": True,
        "stock held": True,
        "emails": ["order-confirmation"],
    },
}


def final_state(flow: Flow, order: Order, stock_before: int, sku: str = SKU) -> dict[str, Any]:
    order.refresh_from_db()
    reservation = Reservation.objects.filter(order_id=order.id).first()
    authorization = Authorization.objects.filter(order_id=order.id).first()
    return {
        "order": order.status,
        "stock": flow.stock(sku) - stock_before,
        "money held": authorization is not None and authorization.status == Authorization.Status.AUTHORIZED,
        "stock held": reservation is not None and reservation.status == Reservation.Status.RESERVED,
        "emails": sorted(SentEmail.objects.filter(order_id=order.id).values_list("template", flat=True)),
    }


def record(scenario: str, flow: Flow, order: Order, state: dict[str, Any]) -> None:
    """Keep the row, with the raw states behind the compared ones, for the closing table."""
    reservation = Reservation.objects.filter(order_id=order.id).first()
    authorization = Authorization.objects.filter(order_id=order.id).first()
    saga = Saga.objects.filter(order=order).first()
    ROWS.append(
        {
            "scenario": scenario,
            "style": "orchestration" if flow.mode == "command" else "choreography",
            "broker": flow.broker,
            **state,
            "reservation": reservation.status if reservation else "none",
            "authorization": authorization.status if authorization else "none",
            "saga": f"{saga.state}: {', '.join(saga.compensations) or '-'}" if saga else "none (choreography)",
            "reason": order.cancel_reason,
            "reviewed by": order.reviewed_by,
        }
    )
    REPORT_PATH.parent.mkdir(exist_ok=True)
    REPORT_PATH.write_text(json.dumps(ROWS, indent=2))


def run(scenario: str, flow: Flow, *, quantity: int = QUANTITY, token: str | None = None) -> dict[str, Any]:
    before = flow.stock(SKU)
    order = flow.place(ADA, (SKU, quantity), token=token)
    flow.wait_for("the order to be confirmed or cancelled", lambda: _final(order))
    settled = flow.settle(order.id)
    state = final_state(flow, settled, before)
    record(scenario, flow, settled, state)
    return state


def _final(order: Order) -> bool:
    return Order.objects.get(pk=order.pk).status in {Order.Status.CONFIRMED, Order.Status.CANCELLED}


def test_success(flow: Flow) -> None:
    assert run("success", flow) == EXPECTED["success"]


def test_out_of_stock(flow: Flow) -> None:
    assert run("out of stock", flow, quantity=flow.stock(SKU) + 1) == EXPECTED["out of stock"]


def test_payment_declined(flow: Flow) -> None:
    assert run("payment declined", flow, token="tok_0002") == EXPECTED["payment declined"]


def test_timeout(flow: Flow, settings: Any) -> None:
    settings.SHOP_SAGA_TIMEOUT = 2  # this process places the order, so it sets the deadline
    settings.SHOP_PAYMENT_SLOW_SECONDS = 4  # the embedded worker reads this process's settings
    state = run("timeout", flow, token="tok_0003")
    assert state == EXPECTED["timeout"]
    order = Order.objects.filter(card_last4="0003").latest("placed_at")
    assert order.cancel_reason == "timed out: not confirmed within 2 s"
    # run() settled every message, the slow issuer's late answer included. Whatever payments
    # recorded for the order holds no money: voided, or no row at all when the deadline passed
    # before the saga got to the payment step (a slow reservation on a busy machine).
    authorization = Authorization.objects.filter(order_id=order.id).first()
    assert authorization is None or authorization.status == Authorization.Status.VOIDED, authorization


def run_held(scenario: str, flow: Flow, decide: Callable[[uuid.UUID], Order]) -> dict[str, Any]:
    """Fraud flags the order; once stock and payment are secured, a person decides."""
    before = flow.stock(RISKY_SKU)
    order = flow.settle(flow.place(MALLORY, (RISKY_SKU, 1)).id)
    assert (order.status, order.reserved_at) == (Order.Status.ON_HOLD, None), "held, not confirmed"
    assert order.authorized_at is not None, "stock and payment secured while held"
    decide(order.id)
    flow.wait_for("the order to be confirmed or cancelled", lambda: _final(order))
    settled = flow.settle(order.id)
    state = final_state(flow, settled, before, RISKY_SKU)
    record(scenario, flow, settled, state)
    return state


def test_held_then_released(flow: Flow) -> None:
    assert run_held("held, then released", flow, flow.release) == EXPECTED["held, then released"]


def test_held_then_rejected(flow: Flow) -> None:
    assert run_held("held, then rejected", flow, flow.reject) == EXPECTED["held, then rejected"]


@pytest.fixture
def orders_worker_killed(live_broker: str, worker_groups: dict[str, WorkerGroup]) -> Iterator[WorkerGroup]:
    group = worker_groups[live_broker]
    proc = group.processes.pop("orders")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    try:
        yield group
    finally:
        if "orders" not in group.processes:
            group.spawn("orders", "orders")
            group.wait_ready(["orders"], timeout=120)


@pytest.mark.parametrize("live_broker", ["redis", "amqp"], indirect=True)
@pytest.mark.parametrize("mode", MODES)
def test_crash_mid_saga(live_broker: str, mode: str, orders_worker_killed: WorkerGroup, catalog: None) -> None:
    flow = Flow(mode=mode, broker=live_broker)
    before = flow.stock(SKU)
    order = flow.place(ADA, (SKU, QUANTITY))
    flow.wait_for(
        "inventory to reserve while orders is down",
        lambda: Reservation.objects.filter(order_id=order.id, status=Reservation.Status.RESERVED).exists(),
    )
    assert Order.objects.get(pk=order.id).status == Order.Status.PLACED, "mid-saga: nobody has confirmed it"

    orders_worker_killed.spawn("orders", "orders")
    orders_worker_killed.wait_ready(["orders"], timeout=120)

    flow.wait_for("the saga to resume and confirm", lambda: _final(order))
    settled = flow.settle(order.id)
    state = final_state(flow, settled, before)
    record("crash mid-saga", flow, settled, state)
    assert state == EXPECTED["crash mid-saga"]
