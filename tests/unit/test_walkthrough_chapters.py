"""Walkthrough chapters 3 to 6, each run end to end on the embedded worker (memory://, SQLite).

Each chapter runs once per module (a fixture), and what the database says afterwards is read
inside that fixture, before any test's flush. The tests check both: what the chapter printed as
measured, and that the database agrees with it.
"""

from __future__ import annotations

import json
import re
import uuid
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test.utils import override_settings

from core.eventstore import store
from core.models import DeadLetter, InjectedFault, MessageLog
from inventory.models import Reservation
from lesson.walkthrough import fault_report
from lesson.walkthrough.outage import REFUSAL, OutageTransport
from lesson.walkthrough.readside import snapshot
from messaging.kernel.envelope import Envelope
from messaging.kernel.names import Kind
from orders.models import FailedCommand, Order
from orders.replay import check_consistency
from readmodel.models import OrderSummary
from tests.fakes import RecordingTransport

#: Someone's own fault, armed before a chapter runs: the chapter must leave it alone.
BYSTANDER = {"service": "notifications", "message_type": "order.shipped", "error": "set up in the admin"}


def _walk(chapter: int, *, mode: str = "both") -> tuple[str, list[Order]]:
    before = set(Order.objects.values_list("id", flat=True))
    out = StringIO()
    call_command("walkthrough", "--chapter", str(chapter), "--mode", mode, stdout=out)
    return out.getvalue(), list(Order.objects.exclude(id__in=before).select_related("customer"))


def _row(text: str, *starts: str) -> list[str]:
    """The cells of the first table line whose cells begin with ``starts`` (rich ROUNDED boxes)."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells[: len(starts)] == list(starts):
            return cells
    raise AssertionError(f"no table row starting with {starts}")


def _letters(order: Order) -> list[tuple[str, str, str]]:
    """Dead letters for any message the order caused: (consumer, message type, queue)."""
    ids = MessageLog.objects.filter(correlation_id=str(order.id)).values_list("message_id", flat=True)
    letters = DeadLetter.objects.filter(message_id__in=[str(i) for i in ids])
    return list(letters.values_list("consumer", "message_type", "source"))


def _one(orders: list[Order], mode: str) -> Order:
    [order] = [o for o in orders if o.mode == mode]
    return order


# --- chapter 3: failure responsibility ------------------------------------------------------


@pytest.fixture(scope="module")
def chapter_3(django_db_setup: None, django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        bystander = InjectedFault.objects.create(**BYSTANDER)
        text, orders = _walk(3)
        command, event = _one(orders, "command"), _one(orders, "event")
        facts = {
            "text": text,
            "statuses": {o.mode: o.status for o in orders},
            "failed_commands": {
                mode: list(FailedCommand.objects.filter(order=o).values_list("command", flat=True))
                for mode, o in (("command", command), ("event", event))
            },
            "letters": {mode: _letters(o) for mode, o in (("command", command), ("event", event))},
            "faults": list(InjectedFault.objects.values_list("pk", flat=True)),
            "bystander": bystander.pk,
        }
        InjectedFault.objects.filter(pk=bystander.pk).delete()
    return facts


@pytest.mark.django_db(transaction=True)
def test_chapter_3_command_failure_goes_back_to_the_sender(chapter_3: dict[str, Any]) -> None:
    assert chapter_3["failed_commands"]["command"] == ["analytics.record"]
    assert chapter_3["letters"]["command"] == []
    text = chapter_3["text"]
    assert _row(text, "what orders heard")[1:] == ["orders.note_failure from analytics", "nothing"]
    assert _row(text, "return address on the message")[1] == "orders.note_failure"
    assert _row(text, "tries before it gave up")[1:] == ["4", "4"]


@pytest.mark.django_db(transaction=True)
def test_chapter_3_event_failure_stays_with_the_failing_subscriber(chapter_3: dict[str, Any]) -> None:
    assert chapter_3["failed_commands"]["event"] == []
    assert chapter_3["letters"]["event"] == [("analytics", "order.confirmed", "analytics.events")]
    assert _row(chapter_3["text"], "same message, other consumers")[2] == "notifications, projector"
    # The producer and the other services carried on: both orders were confirmed.
    assert chapter_3["statuses"] == {"command": "confirmed", "event": "confirmed"}


@pytest.mark.django_db(transaction=True)
def test_chapter_3_removes_its_fault_and_only_its_fault(chapter_3: dict[str, Any]) -> None:
    assert chapter_3["faults"] == [chapter_3["bystander"]]
    assert _row(chapter_3["text"], "injected fault left behind")[1:] == ["0", "0"]


# --- chapter 4: event sourcing --------------------------------------------------------------


@pytest.fixture(scope="module")
def chapter_4(django_db_setup: None, django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        text, orders = _walk(4)
        command, event = _one(orders, "command"), _one(orders, "event")
        return {
            "text": text,
            "statuses": {o.mode: o.status for o in orders},
            "stream": [e.type for e in store.read_stream(str(event.id))],
            "command_stream": store.stream_version(str(command.id)),
            "drifts": list(check_consistency([event])),
            "event_id": str(event.id),
        }


@pytest.mark.django_db(transaction=True)
def test_chapter_4_the_event_stream_replays_to_the_row_and_travels_back(chapter_4: dict[str, Any]) -> None:
    # Fraud's verdict and the fulfilment may finish in either order: both come before payment
    # (when the verdict is last, order.authorized marks the wait), the confirmation last of them.
    stream = chapter_4["stream"]
    before = stream[: stream.index("order.paid")]
    assert before[0] == "order.placed" and before[-1] == "order.confirmed" and "order.risk_scored" in before
    assert stream[len(before) :] == ["order.paid", "order.packed", "order.shipped"]
    assert chapter_4["drifts"] == []
    text = chapter_4["text"]
    assert _row(text, "events in its stream")[1:] == ["0", str(len(stream))]
    assert _row(text, "replay of the stream equals the row")[1:] == ["nothing to replay", "yes"]
    assert _row(text, "status just before payment")[2] == "confirmed"
    assert f"replay_order {chapter_4['event_id']} --until-version {len(before)}" in text
    packed = len(before) + 2
    assert re.search(rf"\n\s+{packed}\s+order\.packed\s+packed\s+payment_method=card · warehouse=W2\s*\n", text)


@pytest.mark.django_db(transaction=True)
def test_chapter_4_command_mode_keeps_only_the_row(chapter_4: dict[str, Any]) -> None:
    assert chapter_4["statuses"] == {"command": "shipped", "event": "shipped"}
    assert chapter_4["command_stream"] == 0
    assert _row(chapter_4["text"], "messages sent by pay, pack, ship")[1:] == ["0", "3"]
    assert "command mode overwrites the order row in place; no history exists to replay" in chapter_4["text"]


# --- chapter 5: CQRS ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chapter_5(django_db_setup: None, django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        text, orders = _walk(5)
        event = _one(orders, "event")
        live = snapshot()
        call_command("rebuild_projections", stdout=StringIO())
        return {
            "text": text,
            "summaries": {o.mode: OrderSummary.objects.filter(order_id=o.id).count() for o in orders},
            "event_status": event.status,
            "live_equals_rebuild": live == snapshot(),
            "live": len(live),
        }


@pytest.mark.django_db(transaction=True)
def test_chapter_5_the_read_model_trails_the_write_model_then_catches_up(chapter_5: dict[str, Any]) -> None:
    text = chapter_5["text"]
    held = re.search(
        r"placed and paid; the relay has not published yet\s+(\w+)\s+(\d+)\s+no summary yet\s+(\d+)\s+(\d+)", text
    )
    assert held, text
    write_status, stream_version, lag, outbox = held.groups()
    assert (write_status, stream_version) == ("paid", "2")  # the write model is right at once
    assert int(lag) == 2 and int(outbox) == 2  # the read model is two events behind
    settled = re.search(r"everything the order caused has been handled\s+(\w+)\s+\d+\s+(\w+)\s+(\d+)", text)
    assert settled and settled.groups() == ("paid", "paid", "0")
    assert chapter_5["summaries"] == {"command": 0, "event": 1}


@pytest.mark.django_db(transaction=True)
def test_chapter_5_rebuild_yields_the_same_rows(chapter_5: dict[str, Any]) -> None:
    assert chapter_5["live_equals_rebuild"] and chapter_5["live"] >= 1
    rebuilt = re.search(r"\n\s+(\d+)\s+(\d+)\s+(yes|NO)\s+\d+\s+\d+\s+[\d.]+\s*\n", chapter_5["text"])
    assert rebuilt and rebuilt.group(1) == rebuilt.group(2) and rebuilt.group(3) == "yes"


@pytest.mark.django_db(transaction=True)
def test_chapter_5_the_dashboard_reads_one_table_and_the_write_model_joins(chapter_5: dict[str, Any]) -> None:
    read = _row(chapter_5["text"], "read model: readmodel.selectors.dashboard()")
    write = _row(chapter_5["text"], "write model: orders joined to customers and lines")
    assert read[2:] == ["1", "0", "readmodel_ordersummary"]
    assert int(write[3]) >= 2 and "catalog_customer" in write[4]


# --- chapter 6: the outbox and at-least-once delivery ---------------------------------------

REPORT = [
    {"fault": "broker restart", "mode": "event", "broker": "amqp", "orders": 500, "lost": 0,
     "double_applied": 0, "dead_lettered": 0, "duplicates_skipped": 7, "seconds": 80.0},
]  # fmt: skip


@pytest.fixture(scope="module")
def chapter_6(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    var = tmp_path_factory.mktemp("var")
    (var / "fault-report.json").write_text(json.dumps(REPORT))
    with django_db_blocker.unblock(), override_settings(VAR_DIR=var):
        text, orders = _walk(6)
        placed = [o for o in orders if o.customer.email == "ada@example.com"]
        duplicates = MessageLog.objects.filter(
            correlation_id__in=[str(o.id) for o in placed], status=MessageLog.Status.DUPLICATE
        )
        return {
            "text": text,
            "orders": {mode: sum(1 for o in placed if o.mode == mode) for mode in ("command", "event")},
            "reserved": {
                mode: Reservation.objects.filter(order_id__in=[o.id for o in placed if o.mode == mode]).count()
                for mode in ("command", "event")
            },
            "duplicates": sorted(duplicates.values_list("name", "service")),
            "faults": InjectedFault.objects.count(),
        }


@pytest.mark.parametrize("mode", ["command", "event"])
@pytest.mark.django_db(transaction=True)
def test_chapter_6_only_the_outbox_keeps_every_order_and_loses_nothing(chapter_6: dict[str, Any], mode: str) -> None:
    text = chapter_6["text"]
    immediate = _row(text, mode, "inside the transaction (.delay())")
    on_commit = _row(text, mode, "after commit (delay_on_commit)")
    outbox = _row(text, mode, "outbox, then the relay")
    # columns: mode, way, accepted, refused, the caller saw, in outbox, relayed, reached inventory, lost
    assert (immediate[2], immediate[3], immediate[-1]) == ("0", "3", "0")
    assert (on_commit[2], on_commit[-2], on_commit[-1]) == ("3", "0", "3")  # accepted, then lost them all
    assert (outbox[2], outbox[3], outbox[-2], outbox[-1]) == ("3", "0", "3", "0")
    assert outbox[5] == outbox[6] != "0"  # everything that waited in the outbox was relayed
    # The database agrees: six orders kept, and only the outbox's three reached inventory.
    assert chapter_6["orders"][mode] == 6
    assert chapter_6["reserved"][mode] == 3


@pytest.mark.django_db(transaction=True)
def test_chapter_6_a_redelivered_message_is_skipped_by_every_inbox(chapter_6: dict[str, Any]) -> None:
    assert chapter_6["duplicates"] == [
        ("inventory.reserve", "inventory"),
        ("order.placed", "fraud"),
        ("order.placed", "inventory"),
        ("order.placed", "payments"),
        ("order.placed", "projector"),
    ]
    assert chapter_6["text"].count("duplicate: skipped by the inbox") == 5
    assert re.search(r"reservations for the order\s+1\s+1 \(unchanged\)", chapter_6["text"])
    assert chapter_6["faults"] == 0


@pytest.mark.django_db(transaction=True)
def test_chapter_6_shows_the_fault_tier_report(chapter_6: dict[str, Any]) -> None:
    assert _row(chapter_6["text"], "broker restart", "event", "amqp") == [
        "broker restart", "event", "amqp", "500", "0", "0", "0", "7",
    ]  # fmt: skip


# --- the pieces chapter 6 is built from -----------------------------------------------------


def test_the_outage_transport_refuses_while_down_and_delivers_when_back() -> None:
    inner = RecordingTransport()
    transport = OutageTransport(inner)
    envelope = Envelope(
        kind=Kind.EVENT, type="order.placed", correlation_id=str(uuid.uuid4()), producer="orders", data={}
    )
    transport.down = True
    with pytest.raises(Exception, match=REFUSAL):
        transport.deliver(envelope)
    assert transport.refused == 1 and not inner.delivered
    transport.down = False
    transport.deliver(envelope)
    assert [e.id for e in inner.delivered] == [envelope.id]


def test_a_fault_report_that_is_not_a_list_of_rows_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fault-report.json"
    assert fault_report.load(path) is None
    path.write_text(json.dumps({"rows": []}))
    with pytest.raises(ValueError, match="expected a JSON list"):
        fault_report.load(path)
    path.write_text("[{")  # being rewritten by a running fault tier
    with pytest.raises(ValueError):
        fault_report.load(path)
