"""Payments on its own: the deterministic issuer, idempotency, and voids that overtake authorizations."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from contracts.common import PricedLine, StockLine
from contracts.inventory import StockReserved
from contracts.orders import OrderCancelled, OrderPlaced
from contracts.payments import AuthorizePayment, VoidPayment
from core.models import OutboxMessage
from messaging.kernel.consuming import deliver_event
from messaging.kernel.envelope import Envelope
from messaging.kernel.errors import CommandRejected
from messaging.kernel.names import Kind
from payments import handlers, tasks
from payments.models import Authorization
from payments.services import (
    NoAuthorizationRequested,
    authorize,
    authorize_now,
    request_authorization,
    void,
    wait_for_issuer,
)
from tests.fakes import RecordingTransport

pytestmark = [pytest.mark.django_db, pytest.mark.db_engine]

GOOD = "tok_4242"
DECLINED = "tok_0002"
SLOW = "tok_0003"
AMOUNT = Decimal("42.50")


@pytest.fixture(autouse=True)
def _no_issuer_latency(settings: Any) -> None:
    """Whatever the environment says, these tests never wait for the issuer unless they ask to."""
    settings.SHOP_PAYMENT_LATENCY = 0.0
    settings.SHOP_PAYMENT_SLOW_SECONDS = 0.0


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the issuer's waits instead of waiting."""
    calls: list[float] = []
    monkeypatch.setattr("payments.services.time.sleep", calls.append)
    return calls


def requested(token: str = GOOD) -> uuid.UUID:
    order_id = uuid.uuid4()
    request_authorization(order_id, AMOUNT, "EUR", token)
    return order_id


def status_of(order_id: uuid.UUID) -> str:
    return Authorization.objects.get(order_id=order_id).status


# --- services ---------------------------------------------------------------------------------------------------------


def test_a_request_keeps_only_the_tokens_last_four() -> None:
    order_id = uuid.uuid4()
    authorization = request_authorization(order_id, AMOUNT, "EUR", "tok_visa_4242")
    assert (authorization.status, authorization.amount, authorization.currency) == ("requested", AMOUNT, "EUR")
    assert authorization.token_last4 == "4242"
    assert not Authorization.objects.filter(token_last4__contains="tok").exists()


def test_requesting_twice_changes_nothing() -> None:
    order_id = requested()
    again = request_authorization(order_id, Decimal("1.00"), "USD", DECLINED)
    assert (again.amount, again.currency, again.token_last4) == (AMOUNT, "EUR", "4242")
    assert Authorization.objects.count() == 1


def test_an_ordinary_token_is_authorized() -> None:
    order_id = requested()
    authorization = authorize(order_id)
    assert authorization.status == Authorization.Status.AUTHORIZED
    assert authorization.reason == ""
    assert status_of(order_id) == "authorized"


def test_a_token_ending_0002_is_declined_with_a_reason() -> None:
    authorization = authorize(requested(DECLINED))
    assert authorization.status == Authorization.Status.DECLINED
    assert authorization.reason == "card declined (token ending 0002)"


def test_authorizing_again_returns_the_first_decision(sleeps: list[float], settings: Any) -> None:
    order_id = requested(DECLINED)
    first = authorize(order_id)
    settings.SHOP_PAYMENT_LATENCY = 5.0
    again = authorize(order_id)
    assert (again.pk, again.status, again.reason) == (first.pk, first.status, first.reason)
    assert sleeps == [], "a decided authorization does not ask the issuer again"


def test_authorizing_an_unknown_order_is_a_lookup_error() -> None:
    with pytest.raises(NoAuthorizationRequested, match="no authorization was requested"):
        authorize(uuid.uuid4())
    assert issubclass(NoAuthorizationRequested, LookupError)
    assert not Authorization.objects.exists()


def test_authorize_now_requests_and_decides_once() -> None:
    order_id = uuid.uuid4()
    first = authorize_now(order_id, AMOUNT, "EUR", GOOD)
    again = authorize_now(order_id, AMOUNT, "EUR", GOOD)
    assert first.status == again.status == Authorization.Status.AUTHORIZED
    assert Authorization.objects.count() == 1


def test_a_void_after_the_authorization_releases_it_once() -> None:
    order_id = requested()
    authorize(order_id)
    assert void(order_id) is True
    assert status_of(order_id) == "voided"
    assert void(order_id) is False, "voiding twice releases nothing more"


def test_a_void_before_any_request_refuses_the_late_authorization() -> None:
    order_id = uuid.uuid4()
    assert void(order_id) is False
    tombstone = Authorization.objects.get(order_id=order_id)
    assert (tombstone.status, tombstone.amount, tombstone.currency, tombstone.token_last4) == (
        "voided",
        Decimal("0"),
        "",
        "",
    )
    # The order.placed and the authorization that were overtaken arrive now: nothing is held.
    assert request_authorization(order_id, AMOUNT, "EUR", GOOD).status == Authorization.Status.VOIDED
    assert authorize(order_id).status == Authorization.Status.VOIDED
    assert authorize_now(order_id, AMOUNT, "EUR", GOOD).status == Authorization.Status.VOIDED
    assert Authorization.objects.count() == 1


def test_a_void_between_request_and_authorization_refuses_it() -> None:
    order_id = requested()
    assert void(order_id) is False, "nothing had been authorized yet"
    assert authorize(order_id).status == Authorization.Status.VOIDED


def test_a_void_leaves_a_declined_authorization_declined() -> None:
    order_id = requested(DECLINED)
    authorize(order_id)
    assert void(order_id) is False
    assert status_of(order_id) == "declined"


def test_a_void_while_the_issuer_is_thinking_wins(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    """The wait happens before the row is locked, so a void can land during it, and stays."""
    settings.SHOP_PAYMENT_LATENCY = 0.01
    order_id = requested()
    monkeypatch.setattr("payments.services.time.sleep", lambda seconds: void(order_id))
    wait_for_issuer(GOOD[-4:])
    assert authorize(order_id).status == Authorization.Status.VOIDED


def test_the_configured_latency_is_waited_for_and_deciding_never_waits(sleeps: list[float], settings: Any) -> None:
    settings.SHOP_PAYMENT_LATENCY = 0.01
    authorize(requested())
    assert sleeps == [], "authorize() decides under a lock: it must not wait"
    wait_for_issuer(GOOD[-4:])
    assert sleeps == [0.01]


def test_a_slow_issuer_adds_its_delay_to_the_latency(sleeps: list[float], settings: Any) -> None:
    settings.SHOP_PAYMENT_LATENCY = 0.01
    settings.SHOP_PAYMENT_SLOW_SECONDS = 0.02
    wait_for_issuer(SLOW[-4:])
    assert sleeps == [pytest.approx(0.03)]


def test_no_latency_configured_means_no_wait(sleeps: list[float], settings: Any) -> None:
    del settings.SHOP_PAYMENT_LATENCY
    del settings.SHOP_PAYMENT_SLOW_SECONDS
    wait_for_issuer(GOOD[-4:])
    assert sleeps == []


# --- command mode -----------------------------------------------------------------------------------------------------


def command(name: str, data: dict[str, str]) -> Envelope:
    return Envelope(kind=Kind.COMMAND, type=name, correlation_id=data["order_id"], producer="orders", data=data)


def authorize_payment(order_id: uuid.UUID, token: str) -> AuthorizePayment:
    return AuthorizePayment(order_id=order_id, amount=AMOUNT, currency="EUR", card_last4=token[-4:])


def test_the_authorize_command_reports_the_amount_held() -> None:
    order_id = uuid.uuid4()
    data = {"order_id": str(order_id), "amount": str(AMOUNT), "currency": "EUR", "card_last4": GOOD[-4:]}
    result = tasks.authorize(command("payment.authorize", data), authorize_payment(order_id, GOOD))
    assert result == {"authorization": "authorized", "amount": "42.50", "currency": "EUR"}


def test_a_declined_command_is_rejected_with_the_issuers_reason() -> None:
    order_id = uuid.uuid4()
    data = {"order_id": str(order_id), "amount": str(AMOUNT), "currency": "EUR", "card_last4": DECLINED[-4:]}
    with pytest.raises(CommandRejected, match=r"card declined \(token ending 0002\)"):
        tasks.authorize(command("payment.authorize", data), authorize_payment(order_id, DECLINED))


def test_an_authorize_command_after_the_void_is_rejected() -> None:
    order_id = uuid.uuid4()
    voided = tasks.void(command("payment.void", {"order_id": str(order_id)}), VoidPayment(order_id=order_id))
    assert voided == {"voided": False}
    data = {"order_id": str(order_id), "amount": str(AMOUNT), "currency": "EUR", "card_last4": GOOD[-4:]}
    with pytest.raises(CommandRejected, match="the order gave up waiting"):
        tasks.authorize(command("payment.authorize", data), authorize_payment(order_id, GOOD))


# --- event mode -------------------------------------------------------------------------------------------------------


def event(name: str, order_id: uuid.UUID) -> Envelope:
    return Envelope(
        kind=Kind.EVENT, type=name, correlation_id=str(order_id), producer="inventory", data={"order_id": str(order_id)}
    )


def reserved(order_id: uuid.UUID) -> StockReserved:
    return StockReserved(order_id=order_id, items=[StockLine(product_id=1, quantity=1)])


def placed(order_id: uuid.UUID) -> OrderPlaced:
    return OrderPlaced(
        order_id=order_id,
        user_id=1,
        items=[PricedLine(product_id=1, quantity=1, sku="PROD-A", unit_price=AMOUNT)],
        amount=AMOUNT,
        currency="EUR",
        placed_at=datetime.now(UTC),
        card_last4=GOOD[-4:],
    )


def outbox() -> list[tuple[str, dict[str, object]]]:
    return [(m.name, m.envelope["data"]) for m in OutboxMessage.objects.order_by("created_at")]


def test_a_placed_order_requests_its_authorization() -> None:
    order_id = uuid.uuid4()
    note = handlers.request_for_order(event("order.placed", order_id), placed(order_id))
    assert note == "requested 42.50 EUR (token ending 4242)"
    assert status_of(order_id) == "requested"


def test_reserved_stock_authorizes_and_states_it(recorded: RecordingTransport) -> None:
    order_id = requested()
    note = handlers.authorize_when_reserved(event("inventory.reserved", order_id), reserved(order_id))
    assert note == "authorized 42.50 EUR"
    assert outbox() == [("payment.authorized", {"order_id": str(order_id), "amount": "42.50", "currency": "EUR"})]


def test_a_decline_is_stated_as_a_fact(recorded: RecordingTransport) -> None:
    order_id = requested(DECLINED)
    note = handlers.authorize_when_reserved(event("inventory.reserved", order_id), reserved(order_id))
    assert note == "declined: card declined (token ending 0002)"
    assert outbox() == [
        ("payment.declined", {"order_id": str(order_id), "reason": "card declined (token ending 0002)"})
    ]


def test_reserved_stock_for_a_cancelled_order_publishes_nothing(recorded: RecordingTransport) -> None:
    order_id = uuid.uuid4()
    void(order_id)
    note = handlers.authorize_when_reserved(event("inventory.reserved", order_id), reserved(order_id))
    assert note == "not authorized: the authorization is voided (nothing published)"
    assert outbox() == []


def test_stock_reserved_before_the_order_reached_payments_is_decided_when_it_does(
    recorded: RecordingTransport,
) -> None:
    """The two facts payments needs can arrive in either order; the second one decides."""
    order_id = uuid.uuid4()
    note = handlers.authorize_when_reserved(event("inventory.reserved", order_id), reserved(order_id))
    assert note.startswith("stock reserved before the order reached payments")
    assert (status_of(order_id), outbox()) == ("awaiting_order", [])

    note = handlers.request_for_order(event("order.placed", order_id), placed(order_id))

    assert note == "authorized 42.50 EUR"
    assert outbox() == [("payment.authorized", {"order_id": str(order_id), "amount": "42.50", "currency": "EUR"})]


def test_the_order_alone_does_not_authorize(recorded: RecordingTransport) -> None:
    order_id = uuid.uuid4()
    handlers.request_for_order(event("order.placed", order_id), placed(order_id))
    assert (status_of(order_id), outbox()) == ("requested", []), "no stock reserved yet: nothing to decide"


@pytest.mark.django_db(transaction=True)
def test_the_issuer_is_asked_outside_the_consumers_transaction(
    monkeypatch: pytest.MonkeyPatch, recorded: RecordingTransport
) -> None:
    """A slow issuer must not hold a transaction open (on SQLite: the one write lock)."""
    seen: list[bool] = []
    monkeypatch.setattr("payments.services.wait_for_issuer", lambda last4: seen.append(connection.in_atomic_block))
    order_id = requested()
    deliver_event(
        "payments",
        event("inventory.reserved", order_id)
        .model_copy(update={"data": reserved(order_id).model_dump(mode="json")})
        .to_wire(),
        queue="payments.events",
    )
    assert seen == [False]
    assert status_of(order_id) == "authorized"


def test_a_cancellation_voids_only_what_was_authorized(recorded: RecordingTransport) -> None:
    authorized, pending = requested(), requested()
    authorize(authorized)
    for order_id in (authorized, pending):
        cancelled = OrderCancelled(
            order_id=order_id, user_id=1, reason="changed my mind", cancelled_at=datetime.now(UTC)
        )
        handlers.void_for_order(event("order.cancelled", order_id), cancelled)
    assert outbox() == [("payment.voided", {"order_id": str(authorized)})]
    assert status_of(pending) == "voided"
