"""Dead letters: retried to their own consumer only, size limits, and task messages Celery refuses.

The retry tests run the embedded worker (every service's consumers, in threads, on memory://), so
a retried message takes the same path as on a real broker: a message published to the ``events``
exchange would reach every subscriber, one put into ``analytics.events`` reaches analytics only.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from analytics.models import MetricRecord
from catalog.models import Customer, Product
from core.models import DeadLetter, InboxEntry, MessageLog
from inventory import tasks as inventory_tasks
from inventory.models import Reservation
from messaging import bootstrap
from messaging.kernel.consuming import dead_letter, deliver_command, deliver_event
from messaging.kernel.envelope import MAX_ENVELOPE_BYTES, Envelope
from messaging.kernel.errors import InvalidMessage
from messaging.kernel.names import Kind
from messaging.kernel.retry import NO_RETRY
from messaging.operations import deadletters, faults
from tests import poison
from tests.fakes import RecordingTransport

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db_engine]

TIMEOUT = 30.0


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def live_worker(catalog: None) -> Iterator[None]:
    """Every service's consumers in this process, on memory://."""
    from messaging.celery_adapter.embedded import embedded_worker
    from shop.celery import app

    bootstrap.configure()
    with embedded_worker(app):
        yield


def confirmed_event(*, padding: str = "") -> Envelope:
    ada = Customer.objects.get(email="ada@example.com")
    product = Product.objects.get(sku="PROD-A")
    order_id = str(uuid.uuid4())
    data: dict[str, Any] = {
        "order_id": order_id,
        "user_id": ada.pk,
        "items": [{"product_id": product.pk, "sku": product.sku, "quantity": 2, "unit_price": str(product.price)}],
        "total": str(product.price * 2),
        "confirmed_at": "2025-01-01T12:00:00+00:00",
    }
    if padding:
        data["padding"] = padding
    return Envelope(kind=Kind.EVENT, type="order.confirmed", correlation_id=order_id, producer="orders", data=data)


def analytics_dead_letter(event: Envelope) -> DeadLetter:
    """Analytics fails on the event until it gives up; notifications handles its own copy."""
    faults.inject("analytics", "order.confirmed")
    result = deliver_event("analytics", event.to_wire(), queue="analytics.events")
    assert result.status == MessageLog.Status.DEAD_LETTERED
    assert deliver_event("notifications", event.to_wire(), queue="notifications.events").status == "handled"
    faults.clear()
    return DeadLetter.objects.get(consumer="analytics", message_id=str(event.id))


def consumers_of(message_id: uuid.UUID) -> dict[str, list[str]]:
    """Per service, the statuses it logged for this message (the sender's "sent" rows left out)."""
    out: dict[str, list[str]] = {}
    rows = MessageLog.objects.filter(message_id=message_id).exclude(status=MessageLog.Status.SENT).order_by("id")
    for row in rows:
        out.setdefault(row.service, []).append(row.status)
    return out


def letters_at_least(count: int) -> bool:
    return DeadLetter.objects.count() >= count


def settle(predicate: Callable[[], bool], what: str) -> None:
    """Wait for ``predicate``, then a quiet second: anything misrouted would have landed by then."""
    wait_for(what, predicate)
    time.sleep(1.0)


# --- retry goes back to the consumer that gave up, and to no one else -------------------------


def test_a_retried_event_is_handled_by_the_consumer_that_dead_lettered_it_only(live_worker: None) -> None:
    event = confirmed_event()
    letter = analytics_dead_letter(event)
    assert letter.source == "analytics.events"
    assert not MetricRecord.objects.exists()
    before = consumers_of(event.id)
    assert before == {"analytics": ["dead_lettered"], "notifications": ["handled"]}
    inboxes = set(InboxEntry.objects.values_list("consumer", "message_id"))

    out = io.StringIO()
    call_command("deadletters", "retry", str(letter.pk), stdout=out)
    assert f"order.confirmed {event.id} sent back to analytics on analytics.events" in out.getvalue()

    settle(lambda: InboxEntry.objects.filter(consumer="analytics", message_id=event.id).exists(), "analytics")
    assert MetricRecord.objects.filter(order_id=event.data["order_id"]).count() == 2  # revenue, items sold
    after = consumers_of(event.id)
    # Analytics handled it; notifications, the projector and everyone else never saw it again.
    assert after == {"analytics": ["dead_lettered", "handled"], "notifications": ["handled"]}
    assert set(InboxEntry.objects.values_list("consumer", "message_id")) - inboxes == {("analytics", event.id)}
    letter.refresh_from_db()
    assert letter.retried_at is not None


def test_retrying_a_message_that_was_applied_is_a_duplicate_not_a_second_effect(live_worker: None) -> None:
    event = confirmed_event()
    letter = analytics_dead_letter(event)
    call_command("deadletters", "retry", str(letter.pk), stdout=io.StringIO())
    settle(lambda: InboxEntry.objects.filter(consumer="analytics", message_id=event.id).exists(), "analytics")

    call_command("deadletters", "retry", str(letter.pk), stdout=io.StringIO())  # once more, by mistake
    settle(lambda: consumers_of(event.id)["analytics"][-1] == "duplicate", "the duplicate")
    assert consumers_of(event.id)["analytics"] == ["dead_lettered", "handled", "duplicate"]
    assert MetricRecord.objects.filter(order_id=event.data["order_id"]).count() == 2


def test_a_retried_command_goes_back_to_its_command_queue(live_worker: None) -> None:
    product = Product.objects.get(sku="PROD-A")
    command = Envelope.from_wire(poison.reserve(product.pk))
    faults.inject("inventory", "inventory.reserve")
    policy = NO_RETRY
    result = deliver_command(
        "inventory",
        "inventory.reserve",
        command.to_wire(),
        inventory_tasks.reserve,
        queue="inventory.reserve",
        policy=policy,
    )
    assert result.status == MessageLog.Status.DEAD_LETTERED
    faults.clear()
    letter = DeadLetter.objects.get(consumer="inventory")
    stock = product.stock

    call_command("deadletters", "retry", "--all", "--consumer", "inventory", stdout=io.StringIO())
    settle(lambda: Reservation.objects.filter(order_id=command.data["order_id"]).exists(), "the reservation")
    assert consumers_of(command.id) == {"inventory": ["dead_lettered", "handled"]}
    assert Product.objects.get(pk=product.pk).stock == stock - 2
    letter.refresh_from_db()
    assert letter.retried_at is not None


# --- what cannot be retried, and the command's interface ----------------------------------------


def test_a_letter_without_a_valid_envelope_cannot_be_retried(catalog: None) -> None:
    not_json = DeadLetter.objects.create(consumer="inventory", source="inventory.events", reason="x", raw="{oops")
    bad = DeadLetter.objects.create(
        consumer="inventory", source="inventory.events", reason="x", raw='{"kind": "event"}'
    )
    out = io.StringIO()
    with pytest.raises(CommandError, match="2 dead letter"):
        call_command("deadletters", "retry", str(not_json.pk), str(bad.pk), stdout=out)
    text = out.getvalue()
    assert f"dead letter {not_json.pk}: cannot be retried: its raw body is not JSON" in text
    assert f"dead letter {bad.pk}: cannot be retried: its raw body is not a valid envelope" in text
    assert not DeadLetter.objects.filter(retried_at__isnull=False).exists()


def test_an_event_is_never_retried_to_a_queue_other_than_its_consumers(catalog: None) -> None:
    event = confirmed_event()
    # Dead-lettered by a consumer that subscribes to nothing: there is no queue of its own to use.
    letter = DeadLetter.objects.create(consumer="celery", source="events", reason="x", raw=event.model_dump_json())
    outcome = deadletters.retry(letter)
    assert not outcome.retried
    assert "has no route back to that consumer alone" in outcome.detail
    command = Envelope.from_wire(poison.reserve(1))
    misplaced = DeadLetter.objects.create(
        consumer="inventory", source="inventory.events", reason="x", raw=command.model_dump_json()
    )
    assert "only events belong there" in deadletters.retry(misplaced).detail


def test_the_retry_command_checks_its_arguments(catalog: None) -> None:
    with pytest.raises(CommandError, match="IDs"):
        call_command("deadletters", "retry")
    with pytest.raises(CommandError, match="no dead letter with id 999"):
        call_command("deadletters", "retry", "999")
    with pytest.raises(CommandError, match="--consumer goes with --all"):
        call_command("deadletters", "retry", "1", "--consumer", "analytics")
    out = io.StringIO()
    call_command("deadletters", "retry", "--all", stdout=out)
    assert "Nothing to retry." in out.getvalue()


def test_list_shows_each_letter_and_filters_by_consumer(catalog: None) -> None:
    DeadLetter.objects.create(
        consumer="analytics", source="analytics.events", message_type="order.confirmed", reason="boom", raw="{}"
    )
    DeadLetter.objects.create(
        consumer="inventory", source="inventory.reserve", message_type="inventory.reserve", reason="bad", raw="{}"
    )
    out = io.StringIO()
    call_command("deadletters", "list", stdout=out)
    assert "analytics.events" in out.getvalue() and "inventory.reserve" in out.getvalue()
    assert "2 dead letters, 0 retried." in out.getvalue()
    out = io.StringIO()
    call_command("deadletters", "list", "--consumer", "analytics", stdout=out)
    assert "order.confirmed" in out.getvalue() and "inventory.reserve" not in out.getvalue()


def test_the_admin_action_retries_the_selected_letters(live_worker: None) -> None:
    event = confirmed_event()
    letter = analytics_dead_letter(event)
    broken = DeadLetter.objects.create(consumer="inventory", source="inventory.events", reason="x", raw="{oops")
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    url = reverse("admin:shop_deadletter_changelist")
    assert "Retry selected dead letters" in client.get(url, secure=True).content.decode()

    selected = {"action": "retry_selected", "_selected_action": [letter.pk, broken.pk]}
    response = client.post(url, selected, follow=True, secure=True)
    page = response.content.decode()
    assert "Sent 1 dead letter(s) back to their own consumer" in page
    assert f"Dead letter #{broken.pk} cannot be retried: its raw body is not JSON" in page
    settle(lambda: InboxEntry.objects.filter(consumer="analytics", message_id=event.id).exists(), "analytics")
    assert set(consumers_of(event.id)) == {"analytics", "notifications"}


def test_staff_without_the_change_permission_cannot_retry(catalog: None) -> None:
    DeadLetter.objects.create(consumer="analytics", source="analytics.events", reason="boom", raw="{}")
    viewer = User.objects.create_user("viewer", "viewer@example.com", "pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_deadletter"))
    client = Client()
    client.force_login(viewer)
    response = client.get(reverse("admin:shop_deadletter_changelist"), secure=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "analytics.events" in page  # the viewer sees the letter...
    assert "Retry selected dead letters" not in page  # ...but cannot send it anywhere


def test_a_binary_body_is_kept_with_its_nul_bytes_escaped(catalog: None) -> None:
    """PostgreSQL text cannot hold NUL; a dead letter that cannot be written would stop the consumer."""
    body = b"\x80\x04\x95\x00pickle"
    dead_letter("inventory", "inventory.events", body, "undecodable (application/x-python-serialize)")
    # Bytes that are not UTF-8, and NUL, are kept as \xNN escapes; the rest as it came.
    assert DeadLetter.objects.get().raw == "\\x80\x04\\x95\\x00pickle"


# --- size limits ---------------------------------------------------------------------------------


def test_the_buses_refuse_to_send_an_oversized_envelope(recorded: RecordingTransport, catalog: None) -> None:
    event = confirmed_event()
    data = {**event.data, "items": event.data["items"] * 8000}  # a valid, absurd order: ~800 KB
    with pytest.raises(
        InvalidMessage, match=rf"order.confirmed: the envelope is \d+ bytes, over the limit of {MAX_ENVELOPE_BYTES}"
    ):
        bootstrap.bus().events.publish("order.confirmed", data, producer="orders", correlation_id="c-1")
    assert recorded.delivered == []


def test_consumers_dead_letter_an_oversized_message_before_parsing_it(catalog: None) -> None:
    event = confirmed_event(padding="x" * MAX_ENVELOPE_BYTES)
    result = deliver_event("analytics", event.to_wire(), queue="analytics.events")
    assert result.status == MessageLog.Status.DEAD_LETTERED
    letter = DeadLetter.objects.get()
    assert letter.reason.startswith("oversized: ") and f"> limit of {MAX_ENVELOPE_BYTES} bytes" in letter.reason
    assert letter.message_id == str(event.id)  # still labelled, though never parsed
    assert not InboxEntry.objects.exists()
    assert not deadletters.retry(letter).retried  # kept truncated: there is no envelope to send back

    command = poison.reserve(Product.objects.get(sku="PROD-A").pk)
    command["data"]["padding"] = "x" * MAX_ENVELOPE_BYTES
    result = deliver_command(
        "inventory", "inventory.reserve", command, inventory_tasks.reserve, queue="inventory.reserve", policy=NO_RETRY
    )
    assert result.status == MessageLog.Status.DEAD_LETTERED
    assert DeadLetter.objects.get(consumer="inventory").reason.startswith("oversized: ")
    assert not Reservation.objects.exists()


# --- task messages Celery's consumer refuses are dead-lettered too (memory://) ------------------


def test_malformed_task_messages_are_dead_lettered_and_the_worker_carries_on(live_worker: None) -> None:
    """Every kind, one after another, through one worker (stopping a worker takes seconds)."""
    from shop.celery import app

    product = Product.objects.get(sku="PROD-A")
    stock = product.stock
    for count, case in enumerate(poison.COMMAND_POISONS, start=1):
        with app.connection_for_write() as connection:
            poison.publish_raw(connection, case.queue, case.build(product.pk))
        wait_for(f"the dead letter for {case.name!r}", partial(letters_at_least, count))
        letter = DeadLetter.objects.order_by("-id").first()
        assert letter is not None and DeadLetter.objects.count() == count, case.name
        assert (letter.consumer, letter.source) == ("inventory", "inventory.reserve"), case.name
        assert case.reason in letter.reason, (case.name, letter.reason)
    assert not Reservation.objects.exists()
    assert Product.objects.get(pk=product.pk).stock == stock

    good = poison.reserve(product.pk)  # and the next good command is handled
    with app.connection_for_write() as connection:
        poison.publish_raw(connection, poison.COMMAND_QUEUE, poison.as_task([good]))
    wait_for("the good command", Reservation.objects.filter(order_id=good["data"]["order_id"]).exists)
    assert Product.objects.get(pk=product.pk).stock == stock - 2
