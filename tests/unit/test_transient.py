"""Database errors are transient, not final (issue 13).

- Which errors count as transient (core/transient.py), and which do not.
- A command task whose database connection is lost is put back on its queue and completes once
  the database is back: not acknowledged and dropped (Celery acknowledges a failed task by
  default), not retried on the dead connection, not dead-lettered. The same for an event.
- Nothing that runs after a commit raises into the code that committed: the fast path, which used
  to be ``on_commit(partial(...), robust=True)``.
- The relay outlives database errors, reporting each once.
"""

from __future__ import annotations

import io
import sqlite3
import uuid
from collections.abc import Iterator
from functools import partial

import psycopg
import psycopg.errors
import pytest
from django.core.management import call_command
from django.db import IntegrityError, InterfaceError, OperationalError, ProgrammingError, transaction
from django.test import Client

from catalog.models import Customer, Product
from core.models import DeadLetter, InboxEntry, InjectedFault, MessageLog, OutboxMessage
from core.transient import Backoff, is_transient
from lesson.walkthrough.scenarios import Run, Scenario, settle
from messaging import bootstrap
from messaging.kernel.envelope import Envelope
from messaging.kernel.names import Kind
from messaging.kernel.outbound import OutboxDispatch, due
from messaging.operations import faults
from messaging.operations.relay import Relay
from orders import services
from orders.models import Order
from tests.fakes import RecordingTransport

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db_engine]


def raised_from(error: BaseException, wrapper: type[Exception] = OperationalError) -> Exception:
    """``error`` as Django raises it: its own class, from the driver's."""
    try:
        raise wrapper(str(error)) from error
    except wrapper as wrapped:
        return wrapped


@pytest.mark.parametrize(
    "error",
    [
        raised_from(psycopg.OperationalError("server closed the connection unexpectedly")),
        raised_from(psycopg.OperationalError("connection failed: FATAL: sorry, too many clients already")),
        raised_from(psycopg.errors.AdminShutdown("terminating connection due to administrator command")),
        raised_from(psycopg.errors.CannotConnectNow("the database system is starting up")),
        raised_from(psycopg.errors.TooManyConnections("sorry, too many clients already")),
        raised_from(psycopg.errors.SerializationFailure("could not serialize access")),
        raised_from(psycopg.errors.DeadlockDetected("deadlock detected")),
        raised_from(psycopg.errors.LockNotAvailable("could not obtain lock")),
        InterfaceError("connection already closed"),
        raised_from(sqlite3.OperationalError("database is locked")),
    ],
    ids=lambda e: f"{type(e.__cause__ or e).__name__}: {e}"[:60],
)
def test_what_is_transient(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        raised_from(psycopg.errors.UniqueViolation("duplicate key"), IntegrityError),
        raised_from(psycopg.errors.UndefinedTable("relation does not exist"), ProgrammingError),
        raised_from(psycopg.errors.DivisionByZero("division by zero"), OperationalError),
        raised_from(sqlite3.OperationalError("no such table: orders_order")),
        faults.InjectedFailure("injected failure"),
        ValueError("a handler's own bug"),
    ],
    ids=lambda e: f"{type(e.__cause__ or e).__name__}: {e}"[:60],
)
def test_what_is_not_transient(error: Exception) -> None:
    assert not is_transient(error)


def test_backoff_grows_then_starts_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_RETRY_DELAY_SCALE", "1")
    backoff = Backoff(first=0.5, most=4.0)
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0]
    for ceiling in ceilings:
        assert ceiling / 2 <= backoff.next_delay() <= ceiling
    backoff.succeeded()
    assert backoff.next_delay() <= 0.5


# --- consumers: the message goes back on its queue ----------------------------------------------


@pytest.fixture
def live_worker(catalog: None) -> Iterator[None]:
    """Every service's consumers, in threads of this process, on memory://."""
    from messaging.celery_adapter.embedded import embedded_worker
    from shop.celery import app

    bootstrap.configure()
    with embedded_worker(app):
        yield
    faults.clear()


def place(mode: str) -> Order:
    customer = Customer.objects.get(email="ada@example.com")
    product = Product.objects.get(sku="PROD-A")
    order = services.place_order(customer_id=customer.pk, items=[services.LineRequest(product.pk, 1)], mode=mode)
    run = settle(Run(Scenario("Ada", "", "ada@example.com", (("PROD-A", 1),)), mode, order), timeout=30)
    assert not run.timed_out, run.waiting_for
    return Order.objects.get(pk=order.pk)


@pytest.mark.parametrize(
    ("mode", "consumer", "message_type"),
    [("command", "inventory", "inventory.reserve"), ("event", "inventory", "order.placed")],
)
def test_a_lost_database_connection_puts_the_message_back_until_the_database_is_back(
    live_worker: None, mode: str, consumer: str, message_type: str
) -> None:
    """Three deliveries fail as a terminated connection does; the fourth finds the database back."""
    faults.inject(consumer, message_type, times=3, error="terminating connection", database=True)

    order = place(mode)

    assert order.status == Order.Status.CONFIRMED, order.cancel_reason
    assert not InjectedFault.objects.exists(), "all three failures happened: the message came back each time"
    handled = MessageLog.objects.get(correlation_id=str(order.id), service=consumer, name=message_type)
    assert (handled.status, handled.attempts) == (MessageLog.Status.HANDLED, 1), "no handler attempt was used up"
    assert InboxEntry.objects.filter(consumer=consumer, message_type=message_type).count() == 1
    assert not DeadLetter.objects.exists()
    assert not MessageLog.objects.filter(status=MessageLog.Status.FAILED).exists()


def test_the_handlers_own_error_is_still_retried_then_reported(live_worker: None) -> None:
    """Not every error is transient: a handler that keeps failing ends as before (the sender is told)."""
    faults.inject("inventory", "inventory.reserve", error="out of luck")

    order = place("command")

    assert order.status == Order.Status.CANCELLED
    failed = MessageLog.objects.get(correlation_id=str(order.id), service="inventory", name="inventory.reserve")
    assert failed.status == MessageLog.Status.FAILED and failed.attempts > 1


# --- after the commit ---------------------------------------------------------------------------


def test_django_robust_on_commit_with_a_partial_raises_after_the_commit() -> None:
    """The trap the fast path fell into: Django 5.2 logs a failing robust hook by its
    ``__qualname__``, which a ``functools.partial`` lacks, so an AttributeError escapes."""

    def fail() -> None:
        raise RuntimeError("the broker is down")

    with pytest.raises(AttributeError, match="__qualname__"), transaction.atomic():
        Customer.objects.create(name="Committed", email=f"{uuid.uuid4().hex}@example.com")
        transaction.on_commit(partial(fail), robust=True)
    assert Customer.objects.filter(name="Committed").exists(), "and the row was committed all the same"


class DatabaseGoneRelay:
    """A relay whose database connection died between the commit and the fast path."""

    failure = ""

    def send_one(self, message_id: uuid.UUID) -> bool:
        raise raised_from(psycopg.errors.AdminShutdown("terminating connection due to administrator command"))


def test_the_fast_path_never_raises_after_the_commit() -> None:
    transport = RecordingTransport()
    outbound = OutboxDispatch(transport, Relay(transport))
    outbound.relay = DatabaseGoneRelay()  # type: ignore[assignment]
    envelope = Envelope(kind=Kind.EVENT, type="order.cancelled", correlation_id="x", producer="orders", data={})

    with transaction.atomic():  # commits without raising, though the fast path failed
        outbound.dispatch(envelope)

    assert OutboxMessage.objects.get(pk=envelope.id).sent_at is None, "left pending for the relay"


# --- the relay ----------------------------------------------------------------------------------


def test_the_relay_outlives_database_errors_and_reports_each_once(
    recorded: RecordingTransport, catalog: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    customer = Customer.objects.get(email="ada@example.com")
    product = Product.objects.get(sku="PROD-A")
    outbound = bootstrap.bus().outbound
    assert isinstance(outbound, OutboxDispatch)
    outbound.fast_path = False  # leave everything to the relay
    order = services.place_order(customer_id=customer.pk, items=[services.LineRequest(product.pk, 1)], mode="event")
    sweep = outbound.relay.sweep
    failures = iter([raised_from(psycopg.errors.AdminShutdown("terminating connection"))] * 3)

    def failing_sweep(limit: int = 200) -> int:
        error = next(failures, None)
        if error is not None:
            raise error
        return sweep(limit=limit)

    monkeypatch.setattr(outbound.relay, "sweep", failing_sweep)
    out, err = io.StringIO(), io.StringIO()
    call_command("relay_outbox", "--once", "--interval", "0", stdout=out, stderr=err)

    assert not OutboxMessage.objects.filter(
        due(), envelope__correlation_id=str(order.id), sent_at__isnull=True
    ).exists()
    assert [e.type for e in recorded.delivered] == ["order.placed"]
    errors = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "shop.relay"]
    retrying = [e for e in errors if "database error, retrying with backoff" in e[1]]
    assert len(retrying) == 1 and retrying[0][0] == "WARNING", errors
    assert ("INFO", "relay_outbox: recovered after 3 failed sweeps") in errors


# --- the web process ----------------------------------------------------------------------------


def order_body() -> dict[str, object]:
    customer = Customer.objects.get(email="ada@example.com")
    product = Product.objects.get(sku="PROD-A")
    return {"user_id": customer.pk, "items": [{"product_id": product.pk, "quantity": 1}]}


def test_the_api_answers_503_with_retry_after_while_the_database_is_away(
    client: Client, catalog: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def database_gone(**_: object) -> None:
        raise raised_from(psycopg.OperationalError("connection failed: FATAL: sorry, too many clients already"))

    monkeypatch.setattr("orders.api.place_order", database_gone)
    body = order_body()

    response = client.post("/api/orders", body, content_type="application/json")

    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.json()["detail"][0]["type"] == "service_unavailable"


def test_any_other_database_error_is_a_server_error(
    client: Client, catalog: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_: object) -> None:
        raise raised_from(psycopg.errors.UndefinedTable("relation does not exist"), OperationalError)

    monkeypatch.setattr("orders.api.place_order", broken)
    body = order_body()

    with pytest.raises(OperationalError, match="relation does not exist"):
        client.post("/api/orders", body, content_type="application/json")
