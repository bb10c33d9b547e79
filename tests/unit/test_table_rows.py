"""One test per row of the lesson's two tables, each named after its row.

Each test places orders in both modes on the running system (every service's consumers in this
process, on memory://), asserts the lesson's claim against what happened, then checks that the
row ``comparison_tables()`` computes from the same database agrees (``holds``), with both modes
measured.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import transaction

from analytics.models import MetricRecord
from catalog.models import Customer, Product
from core.models import DeadLetter, EventRecord, MessageLog, OutboxMessage
from core.models.eventstore import ImmutableEventError
from lesson.evidence.coupling import references_by_mode
from lesson.evidence.imports import app_dependencies
from lesson.evidence.model import TableRow
from lesson.evidence.sources import REPO_ROOT
from lesson.evidence.tables import comparison_tables
from lesson.walkthrough.scenarios import Run, Scenario, play, settle
from messaging import bootstrap
from messaging.kernel import contracts, subscriptions
from messaging.kernel.envelope import Envelope
from messaging.kernel.errors import MessageKindError, NamingError
from messaging.kernel.names import Kind, check_name, is_past_tense
from messaging.kernel.routing import command_queues
from messaging.operations import faults
from orders import replay, services
from orders.models import FailedCommand, Order
from readmodel import selectors as readmodel

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 30.0
ADA = Scenario("Ada", "a normal order", "ada@example.com", (("PROD-A", 2),))
MODES = ("command", "event")


@pytest.fixture
def live_worker(catalog: None) -> Iterator[None]:
    """Every service's consumers, in threads of this process, on memory://."""
    from messaging.celery_adapter.embedded import embedded_worker
    from shop.celery import app

    bootstrap.configure()
    with embedded_worker(app):
        yield


def place(mode: str, scenario: Scenario = ADA) -> Order:
    run = play(scenario, mode, timeout=TIMEOUT)
    assert not run.timed_out, f"{mode}: still waiting for {run.waiting_for}"
    return run.order


def settled(order: Order) -> Order:
    """Wait until everything ``order`` caused since has been handled."""
    run = settle(Run(ADA, order.mode, order), timeout=TIMEOUT)
    assert not run.timed_out, run.waiting_for
    return run.order


def sent_by(order: Order, service: str = "orders") -> list[MessageLog]:
    return list(MessageLog.objects.filter(correlation_id=str(order.id), service=service, status="sent"))


def handlers_of(message: MessageLog) -> list[MessageLog]:
    return list(MessageLog.objects.filter(message_id=message.message_id).exclude(status__in=["sent", "duplicate"]))


def envelope_of(message: MessageLog) -> dict[str, Any]:
    stored: dict[str, Any] = OutboxMessage.objects.get(id=message.message_id).envelope
    return stored


def wait_for(what: str, predicate: Callable[[], bool]) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < TIMEOUT, f"timed out waiting for {what}"
        time.sleep(0.02)
    return time.monotonic() - started


def agrees(slug: str) -> TableRow:
    """The computed row for ``slug`` holds, judged on this database with both modes measured."""
    [row] = [r for r in comparison_tables() if r.slug == slug]
    assert row.holds, (row.notes, row.checks)
    assert not row.command.pending and not row.event.pending, (row.command.value, row.event.value)
    return row


# --- table 1: command-based vs event-based messaging ----------------------------------------------


def test_message_meaning(live_worker: None) -> None:
    orders = {mode: place(mode) for mode in MODES}
    commands, events = sent_by(orders["command"]), sent_by(orders["event"])
    assert commands and all(m.kind == "command" and m.route == f"queue {command_queues()[m.name]}" for m in commands)
    assert events and all(m.kind == "event" and m.route == "exchange events" for m in events)
    # "Do this thing": each command is an instruction to one named consumer ...
    assert all(len(handlers_of(m)) == 1 for m in commands)
    # ... "this thing happened": a fact, stated once, with nobody to answer to.
    assert all(envelope_of(m).get("reply_to") is None for m in events)
    assert all(envelope_of(m).get("reply_to") for m in commands)
    # The buses refuse to blur the two.
    bus = bootstrap.bus()
    with pytest.raises(MessageKindError, match="is an event"):
        bus.commands.send("order.placed", {}, producer="orders", correlation_id="x")
    with pytest.raises(MessageKindError, match="is a command"):
        bus.events.publish("inventory.reserve", {}, producer="orders", correlation_id="x")
    agrees("message-meaning")


def test_producer_knows_consumers(live_worker: None) -> None:
    orders = {mode: place(mode) for mode in MODES}
    owner = {"inventory.reserve": "inventory", "fraud.check": "fraud", "email.send": "notifications"}
    owner["analytics.record"] = "analytics"
    owner["payment.authorize"] = "payments"
    for message in sent_by(orders["command"]):
        # Orders chose the recipient: the command's name is the consumer's queue, and that consumer handled it.
        assert [h.service for h in handlers_of(message)] == [owner[message.name]]
    table = subscriptions.table()
    for message in sent_by(orders["event"]):
        # Orders named no one; whoever subscribed received it.
        assert message.route == "exchange events"
        assert sorted(h.service for h in handlers_of(message)) == table[message.name]
    assert {h.service for m in sent_by(orders["event"]) for h in handlers_of(m)} >= {"inventory", "fraud", "projector"}
    agrees("producer-knows-consumers")


def orders_fingerprint() -> dict[str, str]:
    files = sorted(p for p in (REPO_ROOT / "orders").rglob("*.py") if "__pycache__" not in p.parts)
    return {str(p.relative_to(REPO_ROOT)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture
def audit(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A new consumer, registered at run time like any app's handlers.py does, outside orders."""
    registry = {
        service: {e: list(s) for e, s in by_type.items()} for service, by_type in subscriptions._by_service.items()
    }
    monkeypatch.setattr(subscriptions, "_by_service", registry)
    seen: list[str] = []

    def note_order(envelope: Envelope, event: Any) -> str:
        seen.append(str(event.order_id))
        return "noted for the audit"

    subscriptions.Subscriber("audit").on("order.placed")(note_order)
    yield seen


def test_adding_new_consumers(audit: list[str], live_worker: None) -> None:
    before = orders_fingerprint()
    orders = {mode: place(mode) for mode in MODES}
    assert orders_fingerprint() == before, "no file of orders changed"
    # Event mode: the new subscriber received order.placed without the producer changing.
    assert audit == [str(orders["event"].id)]
    [placed] = [m for m in sent_by(orders["event"]) if m.name == "order.placed"]
    assert "audit" in {h.service for h in handlers_of(placed)}
    # Command mode: the producer would have to send it something; it sends it nothing.
    assert not MessageLog.objects.filter(correlation_id=str(orders["command"].id), service="audit").exists()
    row = agrees("adding-consumers")
    reached = {h.service for m in sent_by(orders["event"]) for h in handlers_of(m)} - {"orders"}
    assert f"{len(reached)} subscribers handled its events" in row.event.value


def test_coupling(live_worker: None) -> None:
    orders = {mode: place(mode) for mode in MODES}
    # Command mode: orders' own progress is wired to its consumers' replies.
    [reserve] = [m for m in sent_by(orders["command"]) if m.name == "inventory.reserve"]
    advance = {"on_success": "orders.advance_saga", "on_failure": "orders.advance_saga"}
    assert envelope_of(reserve)["reply_to"] == advance
    [reply] = sent_by(orders["command"], "inventory")
    assert (reply.name, reply.causation_id, reply.route) == (
        "orders.advance_saga",
        str(reserve.message_id),
        "queue orders.replies",
    )
    # The orchestrator sends the next step only once that reply is in.
    [authorize] = [m for m in sent_by(orders["command"]) if m.name == "payment.authorize"]
    assert authorize.causation_id == str(reply.message_id)
    # Event mode: inventory states its own fact to the exchange; payments reacts because it subscribed.
    [reserved] = sent_by(orders["event"], "inventory")
    assert (reserved.name, reserved.kind, reserved.route) == ("inventory.reserved", "event", "exchange events")
    assert all(envelope_of(m).get("reply_to") is None for m in sent_by(orders["event"]))
    # And in the code: orders imports no consumer app, and event mode names none.
    assert set(app_dependencies()["orders"]) <= {"catalog", "contracts", "core", "messaging"}
    assert references_by_mode()["event"] == []
    agrees("coupling")


def test_message_naming(live_worker: None) -> None:
    orders = {mode: place(mode) for mode in MODES}
    sent = MessageLog.objects.filter(correlation_id__in=[str(o.id) for o in orders.values()], status="sent")
    assert sent.exists()
    for message in sent:
        check_name(message.name, Kind(message.kind))
        action = message.name.split(".", 1)[1].split("_")
        if message.kind == "command":
            assert not is_past_tense(action[0]), message.name  # reserve, send, record
        else:
            assert is_past_tense(action[-1]), message.name  # placed, reserved, confirmed
    with pytest.raises(NamingError, match="past tense"):
        check_name("order.place", Kind.EVENT)
    agrees("message-naming")


def test_failure_responsibility(live_worker: None) -> None:
    faults.inject("analytics", "analytics.record")
    faults.inject("analytics", "order.confirmed")
    try:
        orders = {mode: place(mode) for mode in MODES}
    finally:
        faults.clear()
    # Command mode: the failure came back to the producer, which recorded it.
    [record] = [m for m in sent_by(orders["command"]) if m.name == "analytics.record"]
    [failure] = FailedCommand.objects.filter(order=orders["command"])
    assert (failure.command, failure.command_id) == ("analytics.record", record.message_id)
    [reply] = sent_by(orders["command"], "analytics")
    assert (reply.name, reply.causation_id) == ("orders.note_failure", str(record.message_id))
    assert [h.service for h in handlers_of(reply)] == ["orders"]
    # Event mode: analytics kept its own dead letter; orders never heard; the others carried on.
    [confirmed] = [m for m in sent_by(orders["event"]) if m.name == "order.confirmed"]
    assert DeadLetter.objects.filter(consumer="analytics", message_id=str(confirmed.message_id)).count() == 1
    assert sent_by(orders["event"], "analytics") == []
    statuses = {h.service: h.status for h in handlers_of(confirmed)}
    assert statuses["analytics"] == "dead_lettered" and statuses["notifications"] == "handled"
    assert not FailedCommand.objects.filter(order=orders["event"]).exists()
    assert Order.objects.get(pk=orders["event"].pk).status == Order.Status.CONFIRMED
    agrees("failure-responsibility")


# --- table 2: queue-based vs event-driven architecture -----------------------------------------


def test_architecture(live_worker: None) -> None:
    orders = {mode: place(mode) for mode in MODES}
    for message in sent_by(orders["command"]):  # point to point: one queue, one consumer
        [handler] = handlers_of(message)
        assert handler.route == command_queues()[message.name]
    [placed] = [m for m in sent_by(orders["event"]) if m.name == "order.placed"]
    deliveries = handlers_of(placed)  # broadcast: one message, a copy on each subscriber's queue
    assert len(deliveries) >= 3
    assert {h.route for h in deliveries} == {f"{h.service}.events" for h in deliveries}
    assert len({h.message_id for h in deliveries}) == 1
    agrees("architecture")


def test_data_model(live_worker: None) -> None:
    orders = {mode: place(mode) for mode in MODES}
    for order in orders.values():
        services.pay_order(order.id, method="card")
        settled(order)
    # Command mode: the row is overwritten in place; that it was once "confirmed" is kept nowhere.
    command = Order.objects.get(pk=orders["command"].pk)
    assert command.status == Order.Status.PAID
    assert not EventRecord.objects.filter(stream_id=str(command.id)).exists()
    assert readmodel.summary_for(command.id) is None
    # Event mode: the log of events is the history; the row and the read model derive from it.
    event = Order.objects.get(pk=orders["event"].pk)
    stream = [r.type for r in EventRecord.objects.in_stream(str(event.id))]
    assert stream == ["order.placed", "order.risk_scored", "order.confirmed", "order.paid"]
    replayed, drift = replay.audit(event)
    assert drift == [] and replayed.state["status"] == event.status
    wait_for("the read model", lambda: readmodel.lag()["pending_events"] == 0)
    summary = readmodel.summary_for(event.id)
    assert summary is not None and summary.status == event.status
    agrees("data-model")


def test_adding_features(live_worker: None) -> None:
    orders = {mode: place(mode) for mode in MODES}
    # Command mode: every feature is a send in orders plus a task in its app.
    for message in sent_by(orders["command"]):
        [handler] = handlers_of(message)
        assert handler.service != "orders" and handler.status == "handled"
    # Event mode: the read model is a feature nobody told orders about: it subscribed, and got the events.
    [placed] = [m for m in sent_by(orders["event"]) if m.name == "order.placed"]
    assert "projector" in {h.service for h in handlers_of(placed)}
    wait_for("the read model", lambda: readmodel.summary_for(orders["event"].id) is not None)
    assert readmodel.summary_for(orders["command"].id) is None  # command mode would need a new send for it
    assert not any(r.service == "projector" for refs in references_by_mode().values() for r in refs)
    agrees("adding-features")


def test_debugging(live_worker: None) -> None:
    orders = {mode: place(mode) for mode in MODES}
    # Event mode: every past state can be reproduced by replaying a prefix of the stream.
    event = orders["event"]
    past = {}
    for change in (
        lambda: None,
        lambda: services.pay_order(event.id, method="card"),
        lambda: services.pack_order(event.id, warehouse="W2"),
        lambda: services.ship_order(event.id, carrier="DHL", tracking="XYZ"),
    ):
        change()
        row = Order.objects.get(pk=event.pk)
        past[row.version] = (row.status, row.payment_method, row.warehouse, row.carrier)
    settled(event)
    for version, state in past.items():
        replayed = replay.state_at(event.id, version).state
        assert (replayed["status"], replayed.get("payment_method") or "", replayed.get("warehouse") or "",
                replayed.get("carrier") or "") == state, version  # fmt: skip
    # Command mode: no history to replay; what there is, is the request chain in the log.
    with pytest.raises(replay.NoHistory):
        replay.state_at(orders["command"].id, 1)
    rows = list(MessageLog.objects.filter(correlation_id=str(orders["command"].id), status="sent"))
    ids = {str(r.message_id) for r in rows}
    roots = [r for r in rows if not r.causation_id]
    assert roots and all(r.causation_id in ids for r in rows if r.causation_id)
    agrees("debugging")


def test_complexity(live_worker: None) -> None:
    seeded = Customer.objects.get(email="ada@example.com"), Product.objects.get(sku="PROD-A")
    # Event mode is eventually consistent: inside the order's own transaction the write model has
    # it and the read model cannot yet (nothing leaves before commit).
    with transaction.atomic():
        order = services.place_order(
            customer_id=seeded[0].pk, items=[services.LineRequest(seeded[1].pk, 1)], mode="event"
        )
        assert Order.objects.filter(pk=order.pk).exists()
        assert readmodel.summary_for(order.id) is None
    wait_for("the read model to catch up", lambda: readmodel.summary_for(order.id) is not None)
    settled(order)
    summary = readmodel.summary_for(order.id)
    assert summary is not None and summary.status == Order.objects.get(pk=order.pk).status  # ...eventually
    # Event schemas live forever, so they are versioned: an old v1 order.placed is upcast when read.
    version, data = contracts.upcast("order.placed", 1, {"order_id": str(uuid.uuid4()), "total": "9.99"})
    assert (version, data["amount"], data["currency"]) == (3, "9.99", "EUR")
    assert all(c.version == 1 for c in contracts.all_contracts() if c.kind is Kind.COMMAND)
    # Command mode: no derived view to wait for; reading the order is reading the row.
    command = place("command")
    assert readmodel.summary_for(command.id) is None
    row = agrees("complexity")
    assert "read model behind by" in row.event.value


def test_best_for(live_worker: None) -> None:
    orders = {mode: place(mode) for mode in MODES}
    # Job queue: each command ran once, on one worker, with a recorded result and duration.
    for message in sent_by(orders["command"]):
        [job] = handlers_of(message)
        assert job.status == "handled" and job.attempts == 1 and job.outcome and job.duration_ms is not None
    # Audit: the event-mode order's history is complete and cannot be rewritten.
    event = orders["event"]
    records = list(EventRecord.objects.in_stream(str(event.id)))
    assert [r.version for r in records] == list(range(1, event.version + 1))
    with pytest.raises(ImmutableEventError):
        records[0].save()
    # Analytics: fed by the events, without orders sending it anything.
    assert MetricRecord.objects.filter(order_id=event.id).exists()
    assert not any(m.name.startswith("analytics.") for m in sent_by(event))
    agrees("best-for")
