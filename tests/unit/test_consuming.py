"""The consuming core, driven directly (no broker): dead letters, the inbox, retries and replies."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from catalog.models import Customer, Product
from core.models import DeadLetter, InboxEntry, MessageLog
from inventory import tasks as inventory_tasks
from inventory.models import Reservation
from messaging.kernel import subscriptions, wiring
from messaging.kernel.consuming import Result, deliver_command, deliver_event
from messaging.kernel.envelope import Envelope, ReplyTo
from messaging.kernel.errors import CommandRejected
from messaging.kernel.names import Kind
from messaging.kernel.retry import DEFAULT_RETRY, NO_RETRY, RetryPolicy
from messaging.operations import faults
from orders.models import FlowMode, Order, OrderLine
from tests.fakes import RecordingTransport

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db_engine]

QUEUE = "inventory.events"
Raw = dict[str, Any]


@pytest.fixture
def products(catalog: None) -> dict[str, Product]:
    return {p.sku: p for p in Product.objects.all()}


@pytest.fixture
def ada(catalog: None) -> Customer:
    return Customer.objects.get(email="ada@example.com")


def placed_event(products: dict[str, Product], user_id: int, *, sku: str = "PROD-A", quantity: int = 2) -> Envelope:
    product = products[sku]
    order_id = str(uuid.uuid4())
    return Envelope(
        kind=Kind.EVENT,
        type="order.placed",
        correlation_id=order_id,
        producer="orders",
        data={
            "order_id": order_id,
            "user_id": user_id,
            "items": [{"product_id": product.pk, "sku": sku, "quantity": quantity, "unit_price": str(product.price)}],
            "total": str(product.price * quantity),
            "placed_at": "2025-01-01T12:00:00+00:00",
        },
    )


def reserve_command(products: dict[str, Product], *, sku: str = "PROD-A", quantity: int = 2, **reply: str) -> Envelope:
    order_id = str(uuid.uuid4())
    return Envelope(
        kind=Kind.COMMAND,
        type="inventory.reserve",
        correlation_id=order_id,
        producer="orders",
        reply_to=ReplyTo(**reply) if reply else None,
        data={"order_id": order_id, "items": [{"product_id": products[sku].pk, "quantity": quantity}]},
    )


def stock(sku: str) -> int:
    return Product.objects.get(sku=sku).stock


def deliver_reserve(
    raw: object, handler: Callable[..., Any] = inventory_tasks.reserve, *, policy: RetryPolicy = DEFAULT_RETRY
) -> Result:
    return deliver_command("inventory", "inventory.reserve", raw, handler, queue="inventory.reserve", policy=policy)


# --- malformed messages ---------------------------------------------------------------------------------------------


def _schema_violation(wire: Raw) -> Raw:
    data = {**wire["data"], "items": [{**wire["data"]["items"][0], "quantity": 0}]}
    return {**wire, "data": data}


def _command_on_event_queue(wire: Raw) -> Raw:
    return {
        **wire,
        "kind": "command",
        "type": "inventory.reserve",
        "data": {"order_id": wire["data"]["order_id"], "items": [{"product_id": 1, "quantity": 1}]},
    }


MALFORMED: dict[str, tuple[Callable[[Raw], object], str]] = {
    "not a dict": (lambda wire: "not json", r"an envelope is a JSON object, got str"),
    "a list": (lambda wire: [wire], r"an envelope is a JSON object, got list"),
    "bytes": (lambda wire: b"\xff\xfe", r"an envelope is a JSON object, got bytes"),
    "not an envelope": (lambda wire: {k: v for k, v in wire.items() if k != "correlation_id"}, r"correlation_id"),
    "unknown type": (lambda wire: {**wire, "type": "order.exploded"}, r"no contract .*'order.exploded'"),
    "unsupported version": (lambda wire: {**wire, "version": 7}, r"'order.placed' has no version 7 \(known: v1, .*\)"),
    "schema violation": (_schema_violation, r"data\.items\.0\.quantity"),
    "extra data field": (lambda wire: {**wire, "data": {**wire["data"], "coupon": "X"}}, r"data\.coupon"),
    "command on the event queue": (
        _command_on_event_queue,
        r"'inventory.reserve' is sent as a command; only events belong",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_event_is_dead_lettered_and_the_next_one_is_handled(
    recorded: RecordingTransport, products: dict[str, Product], ada: Customer, case: str
) -> None:
    make_bad, reason = MALFORMED[case]
    good = placed_event(products, ada.pk)
    before = stock("PROD-A")

    result = deliver_event("inventory", make_bad(good.to_wire()), queue=QUEUE)

    assert result.status == MessageLog.Status.DEAD_LETTERED
    letter = DeadLetter.objects.get()
    assert (letter.consumer, letter.source, letter.attempts) == ("inventory", QUEUE, 1)
    assert letter.reason and letter.reason == result.error
    assert re.search(reason, letter.reason), letter.reason
    assert letter.raw  # what arrived is kept for inspection
    # no business row, no inbox row, nothing emitted
    assert stock("PROD-A") == before
    assert not Reservation.objects.exists()
    assert not InboxEntry.objects.exists()
    assert recorded.delivered == []

    # the consumer carries on
    result = deliver_event("inventory", good.to_wire(), queue=QUEUE)
    assert result.status == MessageLog.Status.HANDLED
    assert stock("PROD-A") == before - 2
    assert Reservation.objects.filter(order_id=good.data["order_id"]).exists()
    assert recorded.names == ["inventory.reserved"]
    assert DeadLetter.objects.count() == 1


def test_an_event_envelope_with_a_command_type_is_dead_lettered(
    recorded: RecordingTransport, products: dict[str, Product], ada: Customer
) -> None:
    wire = {**_command_on_event_queue(placed_event(products, ada.pk).to_wire()), "kind": "event"}
    result = deliver_event("inventory", wire, queue=QUEUE)
    assert result.status == MessageLog.Status.DEAD_LETTERED
    assert DeadLetter.objects.filter(consumer="inventory").exists()


def test_an_event_the_service_does_not_subscribe_to_is_ignored(
    recorded: RecordingTransport, products: dict[str, Product], ada: Customer
) -> None:
    confirmed = Envelope(
        kind=Kind.EVENT,
        type="order.flagged",
        correlation_id="c",
        producer="fraud",
        data={"order_id": str(uuid.uuid4()), "risk_score": 0.9, "reasons": ["x"]},
    )
    result = deliver_event("inventory", confirmed.to_wire(), queue=QUEUE)
    assert result.status == "ignored"
    assert not DeadLetter.objects.exists()
    assert not InboxEntry.objects.exists()


# --- the inbox: at-least-once in, exactly-once effect ---------------------------------------------------------------


def test_a_duplicate_event_is_applied_once(
    recorded: RecordingTransport, products: dict[str, Product], ada: Customer
) -> None:
    event = placed_event(products, ada.pk, quantity=3)
    before = stock("PROD-A")

    first = deliver_event("inventory", event.to_wire(), queue=QUEUE)
    second = deliver_event("inventory", event.to_wire(), queue=QUEUE)

    assert (first.status, second.status) == (MessageLog.Status.HANDLED, MessageLog.Status.DUPLICATE)
    assert stock("PROD-A") == before - 3
    assert Reservation.objects.count() == 1
    assert recorded.names == ["inventory.reserved"]
    assert InboxEntry.objects.filter(consumer="inventory", message_id=event.id).count() == 1
    statuses = list(
        MessageLog.objects.filter(message_id=event.id, service="inventory").values_list("status", flat=True)
    )
    assert statuses == [MessageLog.Status.HANDLED, MessageLog.Status.DUPLICATE]


def test_the_inbox_is_per_service(recorded: RecordingTransport, products: dict[str, Product], ada: Customer) -> None:
    event = placed_event(products, ada.pk)
    assert deliver_event("inventory", event.to_wire(), queue=QUEUE).status == MessageLog.Status.HANDLED
    assert deliver_event("fraud", event.to_wire(), queue="fraud.events").status == MessageLog.Status.HANDLED
    assert set(InboxEntry.objects.values_list("consumer", flat=True)) == {"inventory", "fraud"}


def test_a_duplicate_command_is_applied_once_and_replied_to_once(
    recorded: RecordingTransport, products: dict[str, Product]
) -> None:
    command = reserve_command(products, on_success="orders.advance_saga", on_failure="orders.note_failure")
    before = stock("PROD-A")
    statuses = [deliver_reserve(command.to_wire()).status for _ in range(2)]
    assert statuses == [MessageLog.Status.HANDLED, MessageLog.Status.DUPLICATE]
    assert stock("PROD-A") == before - 2
    assert recorded.names == ["orders.advance_saga"]


# --- retries and dead letters ---------------------------------------------------------------------------------------


def test_a_failing_handler_is_retried_until_it_succeeds(
    recorded: RecordingTransport, products: dict[str, Product], ada: Customer
) -> None:
    faults.inject("inventory", "order.placed", times=2)
    event = placed_event(products, ada.pk)
    before = stock("PROD-A")

    result = deliver_event("inventory", event.to_wire(), queue=QUEUE)

    assert (result.status, result.attempts) == (MessageLog.Status.HANDLED, 3)
    log = MessageLog.objects.get(message_id=event.id, service="inventory")
    assert (log.status, log.attempts) == (MessageLog.Status.HANDLED, 3)
    assert stock("PROD-A") == before - 2
    assert recorded.names == ["inventory.reserved"]
    assert not DeadLetter.objects.exists()


def test_a_permanent_failure_is_dead_lettered_with_reason_and_attempts(
    recorded: RecordingTransport, products: dict[str, Product], ada: Customer
) -> None:
    faults.inject("inventory", "order.placed", error="disk on fire")
    event = placed_event(products, ada.pk)
    before = stock("PROD-A")

    result = deliver_event("inventory", event.to_wire(), queue=QUEUE)

    assert (result.status, result.attempts) == (MessageLog.Status.DEAD_LETTERED, DEFAULT_RETRY.max_attempts)
    letter = DeadLetter.objects.get()
    assert letter.consumer == "inventory"
    assert letter.message_id == str(event.id)
    assert letter.message_type == "order.placed"
    assert letter.attempts == DEFAULT_RETRY.max_attempts
    assert "InjectedFailure" in letter.reason and "disk on fire" in letter.reason
    log = MessageLog.objects.get(message_id=event.id, service="inventory")
    assert (log.status, log.attempts) == (MessageLog.Status.DEAD_LETTERED, DEFAULT_RETRY.max_attempts)
    assert stock("PROD-A") == before
    assert recorded.delivered == []

    # Another service's handling of the same event is not affected...
    assert deliver_event("fraud", event.to_wire(), queue="fraud.events").status == MessageLog.Status.HANDLED
    # ...and once the fault is gone, a retry of the dead letter is applied (it was never marked as seen).
    faults.clear()
    assert deliver_event("inventory", event.to_wire(), queue=QUEUE).status == MessageLog.Status.HANDLED
    assert stock("PROD-A") == before - 2


def test_a_failed_attempt_leaves_no_writes_and_no_messages(
    recorded: RecordingTransport, products: dict[str, Product], ada: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever a failing attempt wrote or published is rolled back with it."""
    monkeypatch.setattr(subscriptions, "_by_service", {})
    attempts: list[int] = []
    from inventory import services
    from messaging.bootstrap import bus

    @subscriptions.Subscriber("flaky").on("order.placed")
    def flaky(envelope: Envelope, event: Any) -> str:
        services.reserve_stock(event.order_id, event.items)
        bus().events.publish(
            "inventory.reserved",
            {
                "order_id": str(event.order_id),
                "items": [{"product_id": i.product_id, "quantity": i.quantity} for i in event.items],
            },
            producer="flaky",
            caused_by=envelope,
        )
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("half-way")
        return "ok"

    before = stock("PROD-A")
    result = deliver_event("flaky", placed_event(products, ada.pk).to_wire(), queue="flaky.events")
    assert (result.status, result.attempts) == (MessageLog.Status.HANDLED, 3)
    assert len(attempts) == 3
    assert stock("PROD-A") == before - 2
    assert recorded.names == ["inventory.reserved"]


# --- commands: the sender owns the failure --------------------------------------------------------------------------


def test_a_handled_command_sends_its_success_reply(recorded: RecordingTransport, products: dict[str, Product]) -> None:
    command = reserve_command(products, on_success="orders.advance_saga", on_failure="orders.note_failure")
    result = deliver_reserve(command.to_wire())
    assert (result.status, result.attempts) == (MessageLog.Status.HANDLED, 1)
    (reply,) = recorded.delivered
    assert reply.type == "orders.advance_saga"
    assert reply.kind is Kind.COMMAND
    assert reply.producer == "inventory"
    assert reply.correlation_id == command.correlation_id
    assert reply.causation_id == str(command.id)
    assert reply.data["ok"] is True
    assert reply.data["command"] == "inventory.reserve"
    assert reply.data["command_id"] == str(command.id)
    assert reply.data["request"] == command.data
    assert reply.data["result"] == {"items": command.data["items"]}


def test_a_rejected_command_sends_the_failure_reply_and_is_not_retried(
    recorded: RecordingTransport, products: dict[str, Product]
) -> None:
    command = reserve_command(
        products, sku="PROD-E", quantity=5, on_success="orders.advance_saga", on_failure="orders.note_failure"
    )
    before = stock("PROD-E")

    result = deliver_reserve(command.to_wire())

    assert (result.status, result.attempts) == (MessageLog.Status.FAILED, 1)
    assert recorded.names == ["orders.note_failure"]
    (reply,) = recorded.delivered
    assert reply.data["ok"] is False
    # The sender gets the reason in the service's words, as event mode states it; the log says
    # it was a refusal, not a crash.
    assert reply.data["error"].startswith("out of stock: PROD-E")
    assert reply.causation_id == str(command.id)
    assert not DeadLetter.objects.exists()
    log = MessageLog.objects.get(message_id=command.id, service="inventory")
    assert (log.status, log.attempts) == (MessageLog.Status.FAILED, 1)
    assert log.error.startswith("rejected: out of stock: PROD-E")
    assert stock("PROD-E") == before
    assert not Reservation.objects.exists()


def test_a_failing_command_with_a_return_address_is_retried_then_replied_not_dead_lettered(
    recorded: RecordingTransport, products: dict[str, Product]
) -> None:
    faults.inject("inventory", "inventory.reserve")
    command = reserve_command(products, on_success="orders.advance_saga", on_failure="orders.note_failure")

    result = deliver_reserve(command.to_wire())

    assert (result.status, result.attempts) == (MessageLog.Status.FAILED, DEFAULT_RETRY.max_attempts)
    assert "orders.note_failure" in recorded.names
    assert "orders.advance_saga" not in recorded.names
    assert not DeadLetter.objects.exists()
    log = MessageLog.objects.get(message_id=command.id, service="inventory")
    assert log.attempts == DEFAULT_RETRY.max_attempts


@pytest.mark.parametrize(
    ("sku", "quantity", "arm_fault", "attempts"),
    [("PROD-E", 5, False, 1), ("PROD-A", 1, True, DEFAULT_RETRY.max_attempts)],
    ids=["rejected", "failing"],
)
def test_a_failing_command_without_a_return_address_is_dead_lettered(
    recorded: RecordingTransport, products: dict[str, Product], sku: str, quantity: int, arm_fault: bool, attempts: int
) -> None:
    if arm_fault:
        faults.inject("inventory", "inventory.reserve")
    command = reserve_command(products, sku=sku, quantity=quantity)
    result = deliver_reserve(command.to_wire())
    assert result.status == MessageLog.Status.DEAD_LETTERED
    letter = DeadLetter.objects.get()
    assert (letter.consumer, letter.source, letter.attempts) == ("inventory", "inventory.reserve", attempts)
    assert recorded.delivered == []


def test_a_command_retry_rolls_back_the_failed_attempts(
    recorded: RecordingTransport, products: dict[str, Product]
) -> None:
    calls: list[int] = []

    def half_way(envelope: Envelope, command: Any) -> dict[str, Any]:
        value = inventory_tasks.reserve(envelope, command)
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("crashed after reserving")
        return value

    command = reserve_command(products, on_success="orders.advance_saga")
    before = stock("PROD-A")
    result = deliver_reserve(command.to_wire(), half_way)
    assert (result.status, result.attempts) == (MessageLog.Status.HANDLED, 3)
    assert stock("PROD-A") == before - 2
    assert recorded.names == ["orders.advance_saga"]


def test_command_rejected_is_not_retried_even_with_retries_left(
    recorded: RecordingTransport, products: dict[str, Product]
) -> None:
    calls: list[int] = []

    def refuse(envelope: Envelope, command: Any) -> None:
        calls.append(1)
        raise CommandRejected("no")

    result = deliver_reserve(
        reserve_command(products, on_failure="orders.note_failure").to_wire(),
        refuse,
        policy=RetryPolicy(max_attempts=5),
    )
    assert (result.status, result.attempts, len(calls)) == (MessageLog.Status.FAILED, 1, 1)
    assert recorded.names == ["orders.note_failure"]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda wire: {**wire, "kind": "event"}, r"task 'inventory.reserve' received an? event 'inventory.reserve'"),
        (
            lambda wire: {**wire, "type": "inventory.release", "data": {"order_id": wire["data"]["order_id"]}},
            r"task 'inventory.reserve' received a command 'inventory.release'",
        ),
        (lambda wire: {**wire, "data": {**wire["data"], "items": []}}, r"data\.items"),
        (lambda wire: "not json", r"JSON object"),
    ],
    ids=["event", "other command", "schema", "not a dict"],
)
def test_a_malformed_command_is_dead_lettered_without_a_reply(
    recorded: RecordingTransport, products: dict[str, Product], mutate: Callable[[Raw], object], reason: str
) -> None:
    command = reserve_command(products, on_success="orders.advance_saga", on_failure="orders.note_failure")
    before = stock("PROD-A")
    result = deliver_reserve(mutate(command.to_wire()), policy=NO_RETRY)
    assert result.status == MessageLog.Status.DEAD_LETTERED
    letter = DeadLetter.objects.get()
    assert re.search(reason, letter.reason), letter.reason
    assert recorded.delivered == []
    assert stock("PROD-A") == before
    assert deliver_reserve(command.to_wire()).status == MessageLog.Status.HANDLED


# --- a subscriber's events cause the next ones ----------------------------------------------------------------------


def test_orders_confirms_on_payment_authorized_and_states_it_caused_by_that_event(
    recorded: RecordingTransport, products: dict[str, Product], ada: Customer
) -> None:
    product = products["PROD-A"]
    # Fraud has cleared it already: the payment is the last answer the order waits for.
    order = Order.objects.create(customer=ada, mode=FlowMode.EVENT, total=Decimal("24.99"), risk_score=0.0)
    OrderLine.objects.create(order=order, product=product, sku=product.sku, quantity=1, unit_price=product.price)
    authorized = Envelope(
        kind=Kind.EVENT,
        type="payment.authorized",
        correlation_id=str(order.id),
        producer="payments",
        data={"order_id": str(order.id), "amount": "24.99", "currency": "EUR"},
    )
    result = deliver_event("orders", authorized.to_wire(), queue="orders.events")
    assert result.status == MessageLog.Status.HANDLED
    order.refresh_from_db()
    assert order.status == Order.Status.CONFIRMED
    (confirmed,) = recorded.delivered
    assert confirmed.type == "order.confirmed"
    assert confirmed.causation_id == str(authorized.id)
    assert confirmed.correlation_id == str(order.id)


# --- two deliveries of one message racing -----------------------------------------------------------------------


def _lose_the_race(monkeypatch: pytest.MonkeyPatch, service: str, envelope: Envelope) -> None:
    """Between this delivery's inbox check and its insert, another delivery of the same message commits."""
    real = faults.raise_if_injected
    won: list[bool] = []

    def other_delivery_commits(svc: str, message_type: str) -> None:
        if not won:
            InboxEntry.objects.create(consumer=service, message_id=envelope.id, message_type=envelope.type)
            won.append(True)
        real(svc, message_type)

    monkeypatch.setattr(wiring, "before_handling", [other_delivery_commits])


def test_the_loser_of_a_race_is_a_duplicate(
    recorded: RecordingTransport, products: dict[str, Product], ada: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = placed_event(products, ada.pk)
    _lose_the_race(monkeypatch, "inventory", event)
    before = stock("PROD-A")
    result = deliver_event("inventory", event.to_wire(), queue=QUEUE)
    assert result.status == MessageLog.Status.DUPLICATE
    assert stock("PROD-A") == before  # the (simulated) winner did the work
    assert not DeadLetter.objects.exists()


def test_the_loser_of_a_race_on_its_last_attempt_is_a_duplicate_too(
    recorded: RecordingTransport, products: dict[str, Product], monkeypatch: pytest.MonkeyPatch
) -> None:
    command = reserve_command(products, on_success="orders.advance_saga", on_failure="orders.note_failure")
    _lose_the_race(monkeypatch, "inventory", command)
    result = deliver_reserve(command.to_wire(), policy=NO_RETRY)
    assert result.status == MessageLog.Status.DUPLICATE
    assert "orders.note_failure" not in recorded.names
