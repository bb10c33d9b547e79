"""The walkthrough: chapter 1 end to end on the embedded worker, and the trace's pairing logic."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from core.models import MessageLog
from core.trace import build_trace, compact, describe, lines, pending
from orders.models import Order

START = datetime(2025, 3, 15, 14, 30, tzinfo=UTC)


# --- chapter 1, end to end ------------------------------------------------------------------


@pytest.fixture(scope="module")
def chapter_1(django_db_setup: None, django_db_blocker: Any) -> dict[str, object]:
    """Run chapter 1 once (both modes) and keep its output and orders for the tests below."""
    with django_db_blocker.unblock():
        before = set(Order.objects.values_list("id", flat=True))
        out = StringIO()
        call_command("walkthrough", "--chapter", "1", stdout=out)
        orders = list(Order.objects.exclude(id__in=before).select_related("customer"))
    text = out.getvalue()
    command_part, _, event_part = text.partition("event mode · ")
    return {"text": text, "command": command_part, "event": event_part, "orders": orders}


def _status(orders: list[Order], mode: str, email: str) -> str:
    [order] = [o for o in orders if o.mode == mode and o.customer.email == email]
    return order.status


@pytest.mark.django_db(transaction=True)
def test_command_mode_sends_commands_to_named_queues(chapter_1: dict[str, Any]) -> None:
    part = chapter_1["command"]
    for name in ("inventory.reserve", "payment.authorize", "fraud.check", "email.send", "orders.advance_saga"):
        assert f"CMD {name}" in part, name
    assert "queue inventory.reserve" in part
    assert "EVT " not in part
    assert "rejected: out of stock" in part  # Grace's reservation failed, and orders was told


@pytest.mark.django_db(transaction=True)
def test_event_mode_publishes_once_and_subscribers_fan_out(chapter_1: dict[str, Any]) -> None:
    part = chapter_1["event"]
    assert "EVT order.placed" in part and "EVT order.confirmed" in part and "EVT order.cancelled" in part
    for service in ("inventory", "fraud", "notifications", "analytics"):
        assert f"exchange events → {service}.events" in part, service
    assert "└─ same EVT" in part  # one message, several deliveries
    assert "CMD " not in part


@pytest.mark.django_db(transaction=True)
def test_both_modes_end_in_the_same_state(chapter_1: dict[str, Any]) -> None:
    orders = chapter_1["orders"]
    assert len(orders) == 6
    for mode in ("command", "event"):
        assert _status(orders, mode, "ada@example.com") == Order.Status.CONFIRMED
        assert _status(orders, mode, "mallory@mailinator.com") == Order.Status.ON_HOLD
        assert _status(orders, mode, "grace@example.com") == Order.Status.CANCELLED
    text = chapter_1["text"]
    for mode in ("command", "event"):
        assert f"{mode} mode · Grace · order" in text
    assert text.count(" · cancelled ─") == 2 and text.count(" · on_hold ─") == 2
    assert "TIMED OUT" not in text
    assert "Both modes reach the same end state: Ada confirmed, Mallory on_hold, Grace cancelled" in text


@pytest.mark.django_db(transaction=True)
def test_comparison_is_computed_from_the_log(chapter_1: dict[str, Any]) -> None:
    text = chapter_1["text"]
    # Command mode: orders names each consumer. Mallory's order is held: checked, reserved and
    # authorized, but neither confirmed, e-mailed nor counted until a person releases it.
    assert "Ada 5 · Mallory 3 · Grace 3" in text
    # Event mode: one fact per change (Ada: placed, risk scored, confirmed; Mallory: placed,
    # held, authorized; Grace: placed, risk scored, cancelled).
    assert "Ada 3 · Mallory 3 · Grace 3" in text
    assert "named 5 consumers (analytics, fraud, inventory, notifications, payments)" in text
    assert "named no consumer" in text
    assert "1 × order-cancelled, 1 × order-confirmation" in text
    assert "revenue 49.98, items_sold 2" in text


def test_a_broker_other_than_the_configured_one_is_refused() -> None:
    with pytest.raises(CommandError, match="export CELERY_BROKER_URL='redis://localhost:6379/0'"):
        call_command("walkthrough", "--broker", "redis://localhost:6379/0", stdout=StringIO())


def test_an_unknown_chapter_is_refused() -> None:
    with pytest.raises(CommandError, match="there is no chapter 99"):
        call_command("walkthrough", "--chapter", "99", stdout=StringIO())


# --- trace.py: pairing log rows ---------------------------------------------------------------


EVENTS = {"order.placed", "order.confirmed"}


def _row(message_id: uuid.UUID, name: str, service: str, status: str, ms: int, **extra: object) -> MessageLog:
    """A log row as the messaging core writes it; routes follow from the name and the service."""
    kind = "event" if name in EVENTS else "command"
    if status == "sent":
        route = "exchange events" if kind == "event" else f"queue {name}"
    else:
        route = f"{service}.events" if kind == "event" else name
    row = MessageLog.objects.create(
        message_id=message_id, name=name, kind=kind, service=service, route=route, status=status,
        correlation_id="order-1", **extra,
    )  # fmt: skip
    MessageLog.objects.filter(pk=row.pk).update(created_at=START + timedelta(milliseconds=ms))
    return row


def _trace() -> list[Any]:
    return build_trace(MessageLog.objects.filter(correlation_id="order-1"), start=START)


@pytest.mark.django_db
def test_one_sent_event_pairs_with_one_row_per_subscriber() -> None:
    event = uuid.uuid4()
    _row(event, "order.placed", "orders", "sent", 5)
    _row(event, "order.placed", "inventory", "handled", 20, outcome={"did": ["reserved 2 × product 1"]})
    _row(event, "order.placed", "fraud", "handled", 12, outcome={"did": ["risk 0.0: not flagged"]})

    [step] = _trace()
    assert (step.name, step.sender, step.route, step.sent_ms) == ("order.placed", "orders", "exchange events", 5)
    assert [d.service for d in step.deliveries] == ["fraud", "inventory"]  # in the order they happened
    assert step.deliveries[1].did == "reserved 2 × product 1"
    rows = lines([step])
    assert [(r.to, r.via, r.repeat) for r in rows] == [
        ("fraud", "exchange events → fraud.events", False),
        ("inventory", "exchange events → inventory.events", True),
    ]


@pytest.mark.django_db
def test_commands_pair_one_to_one_and_failures_show_the_error() -> None:
    reserve, check = uuid.uuid4(), uuid.uuid4()
    _row(reserve, "inventory.reserve", "orders", "sent", 3)
    _row(check, "fraud.check", "orders", "sent", 4)
    _row(check, "fraud.check", "fraud", "handled", 9, outcome={"risk_score": 0.85, "flagged": True})
    _row(reserve, "inventory.reserve", "inventory", "failed", 30, error="rejected: out of stock: PROD-E")

    steps = _trace()
    assert [s.name for s in steps] == ["inventory.reserve", "fraud.check"]  # by when each was sent
    rows = lines(steps)
    assert [(r.sender, r.to, r.status, r.did) for r in rows] == [
        ("orders", "inventory", "failed", "rejected: out of stock: PROD-E"),
        ("orders", "fraud", "handled", "flagged=yes, risk_score=0.85"),
    ]
    assert rows[0].via == "queue inventory.reserve"


@pytest.mark.django_db
def test_unmatched_rows_are_shown_not_dropped() -> None:
    lonely_sent, lonely_handled = uuid.uuid4(), uuid.uuid4()
    _row(lonely_sent, "order.confirmed", "orders", "sent", 50)
    _row(lonely_handled, "email.send", "notifications", "handled", 10, attempts=3)

    first, second = lines(_trace())
    assert (first.name, first.sender, first.via) == ("email.send", "?", "queue email.send")
    assert first.status == "handled (3 tries)"
    assert (second.name, second.to, second.status) == ("order.confirmed", "nobody (yet)", "not handled")


@pytest.mark.django_db
def test_pending_lists_commands_and_subscribers_still_to_come() -> None:
    cmd, evt = uuid.uuid4(), uuid.uuid4()
    _row(cmd, "email.send", "orders", "sent", 1)
    _row(evt, "order.placed", "orders", "sent", 2)
    _row(evt, "order.placed", "fraud", "handled", 5)

    subscribers = {"order.placed": ["fraud", "inventory"]}
    assert pending(_trace(), subscribers) == ["email.send → its handler", "order.placed → inventory"]
    _row(cmd, "email.send", "notifications", "dead_lettered", 8, error="boom")
    _row(evt, "order.placed", "inventory", "handled", 9)
    assert pending(_trace(), subscribers) == []


def test_what_it_did() -> None:
    assert compact({"items": [{"product_id": 1, "quantity": 2}], "flagged": False}) == (
        "flagged=no, items=[(product_id=1, quantity=2)]"
    )
    assert describe("event", "handled", {"did": ["a", "b"]}, "") == "a; b"
    assert describe("event", "handled", {"did": []}, "") == "nothing to do"
    assert describe("command", "handled", {}, "") == "done (returned nothing)"
    assert describe("command", "dead_lettered", {}, "ValueError: x") == "ValueError: x"
    assert describe("event", "duplicate", {}, "").startswith("already handled")
