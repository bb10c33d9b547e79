"""No card token at rest (contracts/cards.py): orders keeps, states and sends only the
card's last four characters; old events and commands that carried a whole token are read
without it, and the tables that kept copies of messages are scrubbed by a migration."""

from __future__ import annotations

import importlib
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test import Client

from catalog.models import Customer, Product
from contracts import cards
from contracts.payments import AuthorizePayment
from core.eventstore import store
from core.models import DeadLetter, EventRecord, MessageLog, OutboxMessage
from messaging.kernel import contracts
from messaging.kernel.envelope import Envelope
from messaging.kernel.names import Kind
from orders import services
from orders.models import FlowMode, IdempotencyKey, Order
from tests.fakes import RecordingTransport
from tests.unit.test_api import CaptureCallbacks, place

pytestmark = pytest.mark.db_engine

TOKEN = "tok_secretvalue9876"
SECRET = "secretvalue"
PLACED_AT = "2024-03-01T09:30:00+00:00"

scrubbing = importlib.import_module("core.migrations.0007_scrub_card_tokens")


def v2_placed(order_id: str, *, user_id: int = 1, product_id: int = 1, token: str | None = TOKEN) -> Envelope:
    """``order.placed`` as orders wrote it before v3: the whole card token in the event."""
    data: dict[str, Any] = {
        "order_id": order_id,
        "user_id": user_id,
        "items": [{"product_id": product_id, "sku": "PROD-A", "quantity": 2, "unit_price": "24.99"}],
        "amount": "49.98",
        "currency": "EUR",
        "placed_at": PLACED_AT,
    }
    if token is not None:
        data["payment_token"] = token
    return Envelope(
        kind=Kind.EVENT, type="order.placed", version=2, correlation_id=order_id, producer="orders", data=data
    )


def v1_authorize(order_id: str) -> Envelope:
    data = {"order_id": order_id, "amount": "49.98", "currency": "EUR", "token": TOKEN}
    return Envelope(kind=Kind.COMMAND, type="payment.authorize", correlation_id=order_id, producer="orders", data=data)


# --- the boundary: the token is cut before anything is stored or sent ------------------------


def test_card_last4_keeps_four_characters_and_defaults_to_the_test_card() -> None:
    assert cards.card_last4(TOKEN) == "9876"
    assert cards.card_last4("42") == "42"
    assert cards.card_last4(None) == cards.card_last4("") == cards.DEFAULT_CARD_LAST4 == "4242"


@pytest.mark.django_db
def test_the_api_accepts_a_token_and_keeps_only_its_last_four(
    client: Client, recorded: RecordingTransport, catalog: None, django_capture_on_commit_callbacks: CaptureCallbacks
) -> None:
    order = place(client, django_capture_on_commit_callbacks, mode="event", payment_token=TOKEN)

    assert order["card_last4"] == "9876"
    assert Order.objects.get(pk=order["id"]).card_last4 == "9876"
    (placed,) = recorded.delivered
    assert (placed.type, placed.version, placed.data["card_last4"]) == ("order.placed", 3, "9876")
    assert SECRET not in json.dumps(placed.to_wire())
    assert SECRET not in json.dumps(EventRecord.objects.get(stream_id=order["id"]).data)


@pytest.mark.django_db
def test_the_fingerprint_is_built_from_the_last_four_not_the_token(catalog: None, recorded: RecordingTransport) -> None:
    ada = Customer.objects.get(email="ada@example.com").pk
    items = [services.LineRequest(Product.objects.get(sku="PROD-A").pk, 1)]
    first = services.place_order(customer_id=ada, items=items, idempotency_key="k-1", payment_token=TOKEN)

    stored = IdempotencyKey.objects.get(key="k-1").fingerprint
    assert stored == services.request_fingerprint(customer_id=ada, items=items, mode=None, card_last4="9876")
    # The documented consequence: another token ending in the same four is the same request.
    again = services.place_order(customer_id=ada, items=items, idempotency_key="k-1", payment_token="tok_other9876")
    assert again.pk == first.pk
    with pytest.raises(services.IdempotencyKeyReused):
        services.place_order(customer_id=ada, items=items, idempotency_key="k-1", payment_token="tok_other1111")


# --- the event store: a stored v2 event is read as v3, without the token ---------------------


@pytest.mark.django_db
def test_a_stored_v2_order_placed_reads_back_without_its_token(client: Client, catalog: None) -> None:
    ada = Customer.objects.get(email="ada@example.com")
    cup = Product.objects.get(sku="PROD-A")
    order = Order.objects.create(customer=ada, mode=FlowMode.EVENT, total=Decimal("49.98"), version=1)
    old = v2_placed(str(order.id), user_id=ada.pk, product_id=cup.pk)
    store.append(str(order.id), [old], expected_version=0)

    (event,) = store.read_stream(str(order.id))
    assert (event.schema_version, event.stored_schema_version) == (3, 2)
    assert "payment_token" not in event.data and event.data["card_last4"] == "9876"
    assert {k: v for k, v in event.data.items() if k != "card_last4"} == {
        k: v for k, v in old.data.items() if k != "payment_token"
    }
    contracts.resolve("order.placed").schema.model_validate(event.data)
    # The store is immutable: the row still holds what v2 wrote; only reads are upcast.
    assert EventRecord.objects.get(stream_id=str(order.id)).data["payment_token"] == TOKEN

    for path in (f"/api/orders/{order.id}", f"/api/orders/{order.id}/state"):
        response = client.get(path)
        assert response.status_code == 200, response.content
        assert SECRET not in response.content.decode(), path
        events = response.json()["history"]["events"] if "history" in response.json() else response.json()["events"]
        assert events[0]["data"]["card_last4"] == "9876"
        assert events[0]["stored_schema_version"] == 2


def test_a_v2_order_placed_from_before_the_token_reads_with_the_default_card() -> None:
    data = v2_placed(str(uuid.uuid4()), token=None).data
    version, upcast = contracts.upcast("order.placed", 2, data)
    assert (version, upcast["card_last4"]) == (3, "4242")


def test_the_admin_shows_a_stored_token_masked() -> None:
    assert cards.masked({"payment_token": TOKEN, "amount": "1.00"}) == {"payment_token": "****9876", "amount": "1.00"}


# --- commands: an old payment.authorize still queued is read without its token --------------


def test_an_old_authorize_command_is_read_without_the_token() -> None:
    command = v1_authorize(str(uuid.uuid4()))
    parsed = contracts.parse(command.type, command.version, command.data)

    assert isinstance(parsed, AuthorizePayment)
    assert parsed.card_last4 == "9876"
    assert SECRET not in parsed.model_dump_json()
    assert "token" not in AuthorizePayment.model_json_schema()["properties"]


# --- the scrub migration (core/migrations/0007_scrub_card_tokens.py) ------------------------


def test_scrub_rewrites_old_envelopes_as_the_version_without_a_token() -> None:
    order_id = str(uuid.uuid4())
    placed = v2_placed(order_id).to_wire()
    scrubbed = scrubbing.scrub(placed)
    assert scrubbed["version"] == 3
    assert scrubbed["data"] == {**v2_placed(order_id, token=None).data, "card_last4": "9876"}
    assert contracts.parse("order.placed", 3, scrubbed["data"])  # valid as what it now claims to be

    authorize = scrubbing.scrub(v1_authorize(order_id).to_wire())
    assert (authorize["version"], authorize["data"]["card_last4"]) == (1, "9876") and "token" not in authorize["data"]
    assert contracts.parse("payment.authorize", 1, authorize["data"])
    # A Celery task body wrapping the envelope, and a bare payload: no token is left anywhere.
    assert SECRET not in json.dumps(scrubbing.scrub([[placed], {}, {}]))
    assert scrubbing.scrub({"payment_token": TOKEN, "x": 1}) == {"x": 1, "card_last4": "9876"}
    assert scrubbing.scrub({"other": "kept"}) == {"other": "kept"}


def test_scrub_text_cuts_tokens_from_truncated_json_too() -> None:
    text = json.dumps(v2_placed(str(uuid.uuid4())).to_wire())
    assert json.loads(scrubbing.scrub_text(text))["data"]["card_last4"] == "9876"
    after, inside = text[:-2], text[: text.index(SECRET) + 4]  # cut after the token, and inside it
    assert scrubbing.scrub_text(after).endswith('"card_last4": "9876"')
    assert scrubbing.scrub_text(inside).endswith('"card_last4": ""')  # its last four were cut off
    assert scrubbing.scrub_text("not json at all") == "not json at all"


@pytest.mark.django_db
def test_the_scrub_migration_cleans_the_outbox_dead_letters_and_message_log() -> None:
    order_id = str(uuid.uuid4())
    placed, authorize = v2_placed(order_id), v1_authorize(order_id)
    OutboxMessage.objects.create(id=placed.id, kind="event", name=placed.type, envelope=placed.to_wire())
    OutboxMessage.objects.create(id=authorize.id, kind="command", name=authorize.type, envelope=authorize.to_wire())
    raw = json.dumps([[placed.to_wire()], {}, {}])  # a Celery task body, as a refused task message is kept
    letter = DeadLetter.objects.create(consumer="payments", source="q", reason="r", raw=raw)
    log = MessageLog.objects.create(
        message_id=placed.id, name=placed.type, kind="event", service="payments", route="payments.events",
        status="handled", correlation_id=order_id, outcome={"payment_token": TOKEN},
    )  # fmt: skip
    untouched = OutboxMessage.objects.create(id=uuid.uuid4(), kind="event", name="order.paid", envelope={"a": 1})

    scrubbing.scrub_tables(apps, None)

    outbox = {m.name: m.envelope for m in OutboxMessage.objects.exclude(pk=untouched.pk)}
    assert (outbox["order.placed"]["version"], outbox["order.placed"]["data"]["card_last4"]) == (3, "9876")
    kept = {key: value for key, value in authorize.data.items() if key != "token"}
    assert outbox["payment.authorize"]["data"] == {**kept, "card_last4": "9876"}
    letter.refresh_from_db()
    log.refresh_from_db()
    assert json.loads(letter.raw)[0][0]["data"]["card_last4"] == "9876"
    assert log.outcome == {"card_last4": "9876"}
    everything = json.dumps([outbox, letter.raw, log.outcome])
    assert SECRET not in everything and "payment_token" not in everything
    assert OutboxMessage.objects.get(pk=untouched.pk).envelope == {"a": 1}


# --- the order row's migration (orders/migrations/0004_card_last4.py) -----------------------


@pytest.mark.django_db(transaction=True)
def test_the_order_migration_keeps_the_last_four_of_each_stored_token(catalog: None) -> None:
    ada = Customer.objects.get(email="ada@example.com")
    call_command("migrate", "orders", "0003_saga", verbosity=0)
    try:
        with connection.cursor() as cursor:
            for token in (TOKEN, "tok_0002"):
                cursor.execute(
                    "INSERT INTO orders_order (id, customer_id, mode, status, total, hold_reason, cancel_reason,"
                    " payment_method, warehouse, carrier, tracking, payment_token, version, placed_at, updated_at)"
                    " VALUES (%s, %s, 'event', 'placed', 1, '', '', '', '', '', '', %s, 0, %s, %s)",
                    [uuid.uuid4().hex, ada.pk, token, PLACED_AT, PLACED_AT],
                )
    finally:
        call_command("migrate", "orders", verbosity=0)

    assert sorted(Order.objects.values_list("card_last4", flat=True)) == ["0002", "9876"]
    columns = [c.name for c in connection.introspection.get_table_description(connection.cursor(), "orders_order")]
    assert "payment_token" not in columns and "card_last4" in columns
