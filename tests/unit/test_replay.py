"""Replay: the lesson's ``getCurrentState`` as real code (orders.lifecycle.replay), time travel
over an order's stream (orders.replay.state_at), and the two management commands built on it,
``replay_order`` and ``check_consistency``."""

from __future__ import annotations

import uuid
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from catalog.models import Customer
from core.eventstore import store
from messaging.kernel.envelope import Envelope
from messaging.kernel.names import Kind
from orders import lifecycle
from orders.errors import OrderError, OrderNotFound
from orders.models import FlowMode, Order
from orders.replay import NO_HISTORY, NoHistory, jsonable, state_at
from tests.fakes import RecordingTransport
from tests.unit.test_api import CaptureCallbacks, place, post
from tests.unit.test_lifecycle_api import advance, reserve

pytestmark = pytest.mark.db_engine

#: The lesson's ``orderEvents``, as it writes them.
LESSON_EVENTS: list[dict[str, Any]] = [
    {"type": "OrderPlaced", "data": {"total": 49.99}, "timestamp": "10:00"},
    {"type": "PaymentReceived", "data": {"method": "card"}, "timestamp": "10:05"},
    {"type": "OrderPacked", "data": {"warehouse": "W2"}, "timestamp": "11:30"},
    {"type": "OrderShipped", "data": {"carrier": "DHL", "tracking": "XYZ"}, "timestamp": "14:00"},
]


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def shipped_event_order(client: Client, capture: CaptureCallbacks) -> str:
    order = place(client, capture, mode="event")
    reserve(order["id"], capture)
    advance(client, capture, order["id"], until="ship")
    order_id: str = order["id"]
    return order_id


# --- the lesson's reducer ------------------------------------------------------------------


def test_the_lessons_own_example_replays_to_the_lessons_state() -> None:
    state = lifecycle.replay((event["type"], event["data"]) for event in LESSON_EVENTS)

    # The lesson: { status: 'shipped', total: 49.99, paymentMethod: 'card', warehouse: 'W2',
    #               carrier: 'DHL', tracking: 'XYZ' }
    assert {key: value for key, value in state.items() if value is not None} == {
        "status": "shipped",
        "total": Decimal("49.99"),
        "payment_method": "card",
        "warehouse": "W2",
        "carrier": "DHL",
        "tracking": "XYZ",
    }
    assert isinstance(state["total"], Decimal)  # not the float 49.99 the lesson's JSON carries


def test_the_lessons_names_are_our_event_types() -> None:
    ours = [(lifecycle.LESSON_NAMES[event["type"]], event["data"]) for event in LESSON_EVENTS]

    assert lifecycle.replay(ours) == lifecycle.replay((event["type"], event["data"]) for event in LESSON_EVENTS)


def test_each_prefix_of_the_lessons_events_is_an_earlier_state() -> None:
    pairs = [(event["type"], event["data"]) for event in LESSON_EVENTS]

    statuses = [lifecycle.replay(pairs[:n])["status"] for n in range(1, len(pairs) + 1)]

    assert statuses == ["placed", "paid", "packed", "shipped"]
    assert lifecycle.replay([]) == {}


def test_an_unknown_event_leaves_the_state_unchanged() -> None:
    state = lifecycle.replay([("OrderPlaced", {"total": 10}), ("order.gift_wrapped", {"paper": "red"})])

    assert state["status"] == "placed"
    assert "paper" not in state


# --- orders.replay.state_at ----------------------------------------------------------------


@pytest.mark.django_db
def test_state_at_folds_a_prefix_of_the_stream(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order_id = shipped_event_order(client, django_capture_on_commit_callbacks)

    packed = state_at(uuid.UUID(order_id), 5)  # placed, risk scored, confirmed, paid, packed

    assert (packed.version, packed.stream_version) == (5, 6)
    assert packed.state["status"] == "packed"
    assert packed.state["warehouse"] == "W2"
    assert "carrier" not in packed.state
    assert packed.state["total"] == "49.98"
    assert isinstance(packed.state["reserved_at"], str)  # ISO 8601, JSON-friendly
    assert [e.type for e in packed.events][-1] == "order.packed"
    assert [e.position for e in packed.events] == sorted(e.position for e in packed.events)
    assert state_at(uuid.UUID(order_id)).state["status"] == "shipped"


@pytest.mark.django_db
def test_state_at_replays_an_upcast_event() -> None:
    """An order.placed stored at schema v1 (``total``, no currency) is read back as v2 and folds alike."""
    customer = Customer.objects.create(name="Grace Hopper", email="grace@example.com")
    order = Order.objects.create(customer=customer, mode=FlowMode.EVENT, total=Decimal("12.50"), version=1)
    placed_v1 = Envelope(
        kind=Kind.EVENT,
        type="order.placed",
        version=1,
        correlation_id=str(order.id),
        producer="orders",
        data={
            "order_id": str(order.id),
            "user_id": customer.pk,
            "items": [],
            "total": "12.50",
            "placed_at": "2025-01-02T03:04:05+00:00",
        },
    )
    store.append(str(order.id), [placed_v1], expected_version=0)

    replayed = state_at(order.id)

    assert replayed.events[0].stored_schema_version == 1
    assert replayed.events[0].schema_version == 3
    assert replayed.state == {"status": "placed", "total": "12.50", "currency": "EUR"}


@pytest.mark.django_db
def test_state_at_refuses_what_it_cannot_replay(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    command = place(client, django_capture_on_commit_callbacks, mode="command")
    event = place(client, django_capture_on_commit_callbacks, mode="event")

    with pytest.raises(NoHistory, match=NO_HISTORY) as no_history:
        state_at(uuid.UUID(command["id"]))
    assert no_history.value.status == 409
    with pytest.raises(OrderNotFound):
        state_at(uuid.uuid4())
    # Below 1 is malformed (422); past the stream's head is a state that does not exist (yet): 404.
    for version, status in ((0, 422), (2, 404)):
        with pytest.raises(OrderError) as out_of_range:
            state_at(uuid.UUID(event["id"]), version)
        assert (out_of_range.value.field, out_of_range.value.status) == ("version", status)


def test_jsonable_turns_the_reducers_values_into_json() -> None:
    state = lifecycle.replay(
        [
            ("order.placed", {"amount": "5.00", "currency": "EUR"}),
            ("order.confirmed", {"confirmed_at": "2025-01-02T03:04:05+00:00"}),
        ]
    )

    assert jsonable(state) == {
        "status": "confirmed",
        "total": "5.00",
        "currency": "EUR",
        "reserved_at": "2025-01-02T03:04:05+00:00",
        "authorized_at": "2025-01-02T03:04:05+00:00",
    }


# --- manage.py replay_order ----------------------------------------------------------------


@pytest.mark.django_db
def test_replay_order_prints_the_stream_and_the_current_state(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order_id = shipped_event_order(client, django_capture_on_commit_callbacks)

    out = run("replay_order", order_id)

    assert f"order {order_id}" in out
    assert "stream at version 6" in out
    for header in ("version", "position", "type", "schema v", "recorded at", "key data"):
        assert header in out
    for event_type in (
        "order.placed",
        "order.risk_scored",
        "order.confirmed",
        "order.paid",
        "order.packed",
        "order.shipped",
    ):
        assert event_type in out
    assert "method=card" in out
    assert "carrier=DHL" in out
    assert "state after version 6 (now)" in out
    event_rows = [line.split() for line in out.splitlines() if line.split()[:1] in [[str(v)] for v in range(1, 7)]]
    assert [row[-1] for row in event_rows] == ["yes"] * 6
    state_lines = out.split("state after version 6")[1]
    assert "shipped" in state_lines
    assert "49.98" in state_lines


@pytest.mark.django_db
def test_replay_order_until_a_version_travels_back_in_time(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order_id = shipped_event_order(client, django_capture_on_commit_callbacks)

    out = run("replay_order", order_id, "--until-version", "4")

    assert "state after version 4 (time travel)" in out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["5"], ["6"])]
    assert [row[-1] for row in rows] == ["no", "no"]  # packed and shipped are listed, but not folded
    state = out.split("state after version 4")[1]
    assert "paid" in state
    assert "card" in state
    assert "W2" not in state
    assert "DHL" not in state


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--until-version", "9"], "no version 9: the order's stream is at version 1"),
        (["--until-version", "0"], "version must be at least 1"),
    ],
)
def test_replay_order_refuses_a_version_outside_the_stream(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
    args: list[str],
    message: str,
) -> None:
    order = place(client, django_capture_on_commit_callbacks, mode="event")

    with pytest.raises(CommandError, match=message):
        run("replay_order", order["id"], *args)


@pytest.mark.django_db
def test_replay_order_of_a_command_mode_order_says_no_history_exists(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order = place(client, django_capture_on_commit_callbacks, mode="command")

    with pytest.raises(CommandError, match="no history exists to replay") as error:
        run("replay_order", order["id"])
    assert "command mode overwrites the order row in place" in str(error.value)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("order_id", "message"), [(str(uuid.UUID(int=7)), "no order with id"), ("42", "not an order id")]
)
def test_replay_order_of_an_unknown_order_fails(order_id: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("replay_order", order_id)


# --- manage.py check_consistency -----------------------------------------------------------


@pytest.mark.django_db
def test_check_consistency_finds_no_drift_then_reports_a_tampered_row(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order_id = shipped_event_order(client, django_capture_on_commit_callbacks)
    held = place(client, django_capture_on_commit_callbacks, mode="event")
    with django_capture_on_commit_callbacks(execute=True):
        post(client, f"/api/orders/{held['id']}/cancel")
    place(client, django_capture_on_commit_callbacks, mode="command")  # no stream: not checked

    assert run("check_consistency") == ("OK: 2 event-mode order(s); every row equals the replay of its stream\n")

    Order.objects.filter(pk=order_id).update(warehouse="X")

    out = StringIO()
    with pytest.raises(CommandError, match=r"1 field\(s\) drifted in 1 of 2 event-mode order\(s\)"):
        call_command("check_consistency", stdout=out)
    assert out.getvalue() == f"DRIFT order {order_id} warehouse: row='X' replayed='W2'\n"


@pytest.mark.django_db
def test_check_consistency_reports_every_drifted_field(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    order_id = shipped_event_order(client, django_capture_on_commit_callbacks)
    Order.objects.filter(pk=order_id).update(status="paid", total=Decimal("1.00"), tracking="", version=4)

    out = StringIO()
    with pytest.raises(CommandError, match=r"4 field\(s\) drifted in 1 of 1"):
        call_command("check_consistency", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines == [
        f"DRIFT order {order_id} status: row='paid' replayed='shipped'",
        f"DRIFT order {order_id} total: row='1.00' replayed='49.98'",
        f"DRIFT order {order_id} tracking: row='' replayed='XYZ'",
        f"DRIFT order {order_id} version: row=4 replayed=6",
    ]
