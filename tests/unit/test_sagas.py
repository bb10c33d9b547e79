"""The fulfilment saga's decisions, one reply at a time, with nothing on a broker.

Command mode's orchestrator is driven here by handing it replies directly (what the reply
task does); what it sends is recorded at the composition root. The scenario table on real
brokers, with real workers, is tests/integration/test_saga_scenarios.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from catalog.models import Customer, Product
from contracts.replies import CommandOutcome
from core.models import OutboxMessage
from messaging.bootstrap import bus
from messaging.kernel.envelope import Envelope
from messaging.kernel.names import Kind
from messaging.kernel.outbound import OutboxDispatch, pending, timers
from orders import review, saga, services, tasks
from orders.deadlines import TIMER
from orders.models import FlowMode, Order, Saga
from tests.fakes import RecordingTransport

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db_engine]


def place(mode: str, token: str | None = None, *, cleared: bool = True) -> Order:
    """Ada's order; ``cleared``: fraud's verdict (not flagged) is in, so the saga's steps decide."""
    ada = Customer.objects.get(email="ada@example.com")
    cup = Product.objects.get(sku="PROD-A")
    order = services.place_order(
        customer_id=ada.pk, items=[services.LineRequest(cup.pk, 2)], mode=mode, payment_token=token
    )
    if cleared:
        review.clear_order(order.id, risk_score=0.0)
    return order


def reply(recorded: RecordingTransport, command: str, *, ok: bool = True, error: str | None = None) -> str:
    """Answer the last ``command`` orders sent, as the consumer's messaging core would."""
    sent = [e for e in recorded.delivered if e.type == command][-1]
    outcome = CommandOutcome(
        command=command, command_id=sent.id, ok=ok, result={}, error=error, request=dict(sent.data)
    )
    envelope = sent.caused(kind=Kind.COMMAND, type=saga.REPLY, data=outcome.model_dump(mode="json"), producer="x")
    return tasks.advance_saga(envelope, outcome)["saga"]


def sent_after(recorded: RecordingTransport, mark: int) -> list[str]:
    return [e.type for e in recorded.delivered[mark:]]


def test_placing_starts_the_saga_with_the_first_step_and_arms_the_deadline(
    recorded: RecordingTransport, catalog: None
) -> None:
    order = place(FlowMode.COMMAND)

    row = Saga.objects.get(order=order)
    assert (row.state, row.current_step, row.steps_done) == (Saga.State.RUNNING, "reserve_stock", [])
    assert row.deadline == order.confirm_by is not None
    reserve = next(e for e in recorded.delivered if e.type == "inventory.reserve")
    assert reserve.reply_to is not None
    assert (reserve.reply_to.on_success, reserve.reply_to.on_failure) == (saga.REPLY, saga.REPLY)
    timer = OutboxMessage.objects.get(name=TIMER)
    assert timer.sent_at is None and timer.not_before == order.confirm_by, "the timer waits in the outbox"
    assert (pending(), timers()) == (0, 1), "a timer that is not due is not pending"


def test_success_runs_every_step_in_order_and_withdraws_the_timer(recorded: RecordingTransport, catalog: None) -> None:
    order = place(FlowMode.COMMAND, token="tok_1111")
    mark = len(recorded.delivered)
    reply(recorded, "inventory.reserve")
    authorize = recorded.delivered[-1]
    assert authorize.type == "payment.authorize"
    assert authorize.data == {"order_id": str(order.id), "amount": "49.98", "currency": "EUR", "card_last4": "1111"}

    reply(recorded, "payment.authorize")

    assert sent_after(recorded, mark) == ["payment.authorize", "email.send", "analytics.record"]
    order.refresh_from_db()
    assert order.status == Order.Status.CONFIRMED
    row = Saga.objects.get(order=order)
    assert row.state == Saga.State.COMPLETED
    assert row.steps_done == ["reserve_stock", "authorize_payment", "confirm_order", "send_confirmation"]
    assert not OutboxMessage.objects.filter(name=TIMER).exists(), "settled in time: the timer is withdrawn"


def test_a_declined_payment_undoes_the_reservation_and_tells_the_customer(
    recorded: RecordingTransport, catalog: None
) -> None:
    order = place(FlowMode.COMMAND, token="tok_0002")
    reply(recorded, "inventory.reserve")
    mark = len(recorded.delivered)

    reply(recorded, "payment.authorize", ok=False, error="card declined (token ending 0002)")

    assert sent_after(recorded, mark) == ["inventory.release", "email.send"]
    assert recorded.delivered[-1].data["template"] == "order-cancelled"
    order.refresh_from_db()
    assert (order.status, order.cancel_reason) == (Order.Status.CANCELLED, "card declined (token ending 0002)")
    row = Saga.objects.get(order=order)
    assert (row.state, row.compensating) == (Saga.State.COMPENSATED, True)
    assert row.compensations == ["inventory.release", "cancel_order", "notify_customer"]


def test_out_of_stock_has_nothing_to_undo(recorded: RecordingTransport, catalog: None) -> None:
    order = place(FlowMode.COMMAND)
    mark = len(recorded.delivered)

    reply(recorded, "inventory.reserve", ok=False, error="out of stock: PROD-A")

    assert sent_after(recorded, mark) == ["email.send"], "the failed step did nothing: only the customer is told"
    assert Order.objects.get(pk=order.pk).status == Order.Status.CANCELLED
    assert Saga.objects.get(order=order).compensations == ["cancel_order", "notify_customer"]


def test_a_timeout_undoes_the_step_in_flight_too_and_a_late_answer_changes_nothing(
    recorded: RecordingTransport, catalog: None
) -> None:
    order = place(FlowMode.COMMAND, token="tok_0003")
    reply(recorded, "inventory.reserve")
    mark = len(recorded.delivered)
    timer = Envelope(kind=Kind.COMMAND, type=TIMER, correlation_id=str(order.id), producer="orders", data={})

    services.expire_order(order.id, cause=timer)

    assert sent_after(recorded, mark) == ["payment.void", "inventory.release", "email.send"], "newest first"
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED and order.cancel_reason.startswith("timed out")
    mark = len(recorded.delivered)
    assert reply(recorded, "payment.authorize") == "late reply to payment.authorize ignored"
    assert sent_after(recorded, mark) == []
    assert Saga.objects.get(order=order).history[-1]["outcome"] == "ignored"


def test_the_deadline_leaves_a_settled_order_alone(recorded: RecordingTransport, catalog: None) -> None:
    order = place(FlowMode.COMMAND)
    reply(recorded, "inventory.reserve")
    reply(recorded, "payment.authorize")
    mark = len(recorded.delivered)
    timer = Envelope(kind=Kind.COMMAND, type=TIMER, correlation_id=str(order.id), producer="orders", data={})

    assert services.expire_order(order.id, cause=timer).status == Order.Status.CONFIRMED
    assert sent_after(recorded, mark) == []


def test_a_duplicate_reply_is_ignored(recorded: RecordingTransport, catalog: None) -> None:
    place(FlowMode.COMMAND)
    reply(recorded, "inventory.reserve")
    mark = len(recorded.delivered)
    assert reply(recorded, "inventory.reserve") == "late reply to inventory.reserve ignored"
    assert sent_after(recorded, mark) == []


def test_a_customer_cancel_mid_saga_stops_it_and_undoes_what_may_have_happened(
    recorded: RecordingTransport, catalog: None
) -> None:
    order = place(FlowMode.COMMAND)
    reply(recorded, "inventory.reserve")
    mark = len(recorded.delivered)

    services.cancel_order(order.id)

    assert sent_after(recorded, mark) == ["payment.void", "inventory.release", "email.send"]
    assert Saga.objects.get(order=order).state == Saga.State.CANCELLED


def test_event_mode_keeps_no_saga_and_cancels_on_its_deadline(recorded: RecordingTransport, catalog: None) -> None:
    order = place(FlowMode.EVENT)
    assert not Saga.objects.filter(order=order).exists(), "choreography: nobody holds the plan"
    assert OutboxMessage.objects.filter(name=TIMER).count() == 1, "the deadline is armed in both modes"
    mark = len(recorded.delivered)
    timer = Envelope(kind=Kind.COMMAND, type=TIMER, correlation_id=str(order.id), producer="orders", data={})

    services.expire_order(order.id, cause=timer)

    assert sent_after(recorded, mark) == ["order.cancelled"], "one fact; inventory and payments undo on it"
    assert recorded.delivered[-1].data["reason"].startswith("timed out")


def test_the_relay_publishes_a_timer_only_once_it_is_due(recorded: RecordingTransport, catalog: None) -> None:
    order = place(FlowMode.EVENT)
    outbound = bus().outbound
    assert isinstance(outbound, OutboxDispatch)

    assert outbound.relay.sweep() == 0 and TIMER not in recorded.names
    OutboxMessage.objects.filter(name=TIMER).update(not_before=timezone.now() - timedelta(seconds=1))
    assert outbound.relay.sweep() == 1
    timer = recorded.delivered[-1]
    assert (timer.type, timer.data) == (TIMER, {"order_id": str(order.id)})


def test_a_saga_running_past_its_deadline_is_stuck(recorded: RecordingTransport, catalog: None) -> None:
    order = place(FlowMode.COMMAND)
    row = Saga.objects.get(order=order)
    assert not saga.stuck(row)
    row.deadline = timezone.now() - timedelta(seconds=1)
    assert saga.stuck(row)


def test_an_order_without_a_saga_row_still_gets_every_undo(recorded: RecordingTransport, catalog: None) -> None:
    order = place(FlowMode.COMMAND)
    Saga.objects.filter(order=order).delete()
    mark = len(recorded.delivered)

    services.cancel_order(order.id)

    assert sent_after(recorded, mark) == ["payment.void", "inventory.release", "email.send"]


def test_the_admin_shows_each_saga_with_its_step_history_and_the_stuck_ones(
    recorded: RecordingTransport, catalog: None, admin_client: Client
) -> None:
    waiting, late = place(FlowMode.COMMAND), place(FlowMode.COMMAND)
    reply(recorded, "inventory.reserve")  # the last order sent: `late` advances to payment
    Saga.objects.filter(order=late).update(deadline=timezone.now() - timedelta(seconds=5))

    page = admin_client.get(reverse("admin:orders_saga_change", args=[late.pk])).content.decode()
    for step, outcome in [("reserve_stock", "sent"), ("reserve_stock", "done"), ("authorize_payment", "sent")]:
        assert f"<td>{step}</td><td>{outcome}</td>" in page, (step, outcome)

    stuck = admin_client.get(reverse("admin:orders_saga_changelist") + "?stuck=yes").content.decode()
    assert str(late.pk)[:8] in stuck and str(waiting.pk)[:8] not in stuck
    response = admin_client.post(reverse("admin:orders_saga_change", args=[late.pk]), {"state": "completed"})
    assert response.status_code == 403, "the saga's state is the orchestrator's, not an admin's"


@pytest.mark.parametrize("mode", [FlowMode.COMMAND, FlowMode.EVENT])
def test_an_answer_after_the_deadline_cancels_even_before_the_timer_is_handled(
    recorded: RecordingTransport, catalog: None, mode: str
) -> None:
    """The timer can be late (a worker busy with a slow handler, a relay that was down): the
    deadline is enforced by every decision, not only by the timer."""
    order = place(mode)
    Order.objects.filter(pk=order.pk).update(confirm_by=timezone.now() - timedelta(seconds=1))
    if mode == FlowMode.COMMAND:
        reply(recorded, "inventory.reserve")
        reply(recorded, "payment.authorize")
    else:
        authorized = Envelope(
            kind=Kind.EVENT, type="payment.authorized", correlation_id=str(order.id), producer="payments", data={}
        )
        services.confirm_order(order.id, cause=authorized)

    order.refresh_from_db()
    assert (order.status, order.reserved_at) == (Order.Status.CANCELLED, None)
    assert order.cancel_reason.startswith("timed out")
    assert "order.confirmed" not in recorded.names
    assert not any(e.data.get("template") == "order-confirmation" for e in recorded.delivered)
    if mode == FlowMode.COMMAND:
        assert recorded.names[-3:] == ["payment.void", "inventory.release", "email.send"]
    else:
        assert recorded.names[-1] == "order.cancelled"
