"""The admin: staff only, every model listed, each order with the messages it caused."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from analytics.models import MetricRecord
from catalog.models import Customer, Product
from core.eventstore import store
from core.models import DeadLetter, EventRecord, InboxEntry, InjectedFault, MessageLog
from fraud.models import RiskAssessment
from inventory.models import Reservation
from messaging.kernel.envelope import Envelope
from messaging.kernel.names import Kind
from notifications.models import SentEmail
from orders.admin import COMMAND_MODE_HISTORY
from orders.models import FailedCommand, FlowMode, Order, OrderLine
from orders.services import LineRequest, cancel_order, pay_order, place_order
from tests.fakes import RecordingTransport

pytestmark = pytest.mark.db_engine

PROJECT_APPS = {"shop", "catalog", "orders", "inventory", "analytics", "fraud", "notifications", "readmodel"}


@dataclass
class Orders:
    mine: Order
    other: Order
    mine_logs: list[MessageLog]
    other_logs: list[MessageLog]


def _order(customer: Customer, mode: str) -> Order:
    order = Order.objects.create(customer=customer, mode=mode, total=Decimal("49.98"))
    product = Product.objects.get(sku="PROD-A")
    OrderLine.objects.create(order=order, product=product, sku=product.sku, quantity=2, unit_price=product.price)
    return order


def _log(order: Order, name: str, service: str, **fields: object) -> MessageLog:
    defaults: dict[str, object] = {
        "message_id": uuid.uuid4(),
        "kind": "event",
        "route": "events",
        "status": MessageLog.Status.SENT,
    }
    defaults.update(fields)
    return MessageLog.objects.create(name=name, service=service, correlation_id=str(order.id), **defaults)


@pytest.fixture
def orders(catalog: None) -> Orders:
    """Two orders and a row of every project model, so list and change pages render real rows."""
    ada = Customer.objects.get(email="ada@example.com")
    grace = Customer.objects.get(email="grace@example.com")
    mine = _order(ada, FlowMode.EVENT)
    other = _order(grace, FlowMode.COMMAND)
    placed = _log(mine, "order.placed", "orders", outcome={"published": True})
    mine_logs = [
        placed,
        _log(
            mine,
            "order.placed",
            "inventory",
            message_id=placed.message_id,
            route="inventory.events",
            status=MessageLog.Status.FAILED,
            attempts=3,
            duration_ms=12.5,
            error="<script>alert('boom')</script>",
        ),
    ]
    other_logs = [
        _log(other, "inventory.reserve", "orders", kind="command", route="inventory.reserve"),
        _log(other, "email.send", "orders", kind="command", route="email.send"),
    ]
    FailedCommand.objects.create(order=other, command="inventory.reserve", command_id=uuid.uuid4(), error="no stock")
    Reservation.objects.create(order_id=mine.id, status=Reservation.Status.RESERVED, items=[{"product_id": 1}])
    MetricRecord.objects.create(name=MetricRecord.Name.REVENUE, order_id=mine.id, value=Decimal("49.98"))
    RiskAssessment.objects.create(order_id=mine.id, score=0.1, flagged=False, reasons=[])
    SentEmail.objects.create(order_id=mine.id, template="order_confirmed", to=ada.email, subject="Thanks", body="Hi")
    InboxEntry.objects.create(consumer="inventory", message_id=mine_logs[0].message_id, message_type="order.placed")
    DeadLetter.objects.create(consumer="fraud", source="fraud.events", reason="x" * 300, raw="{}")
    InjectedFault.objects.create(service="fraud", message_type="order.placed")
    store.append(str(mine.id), [_placed_v1(mine)], expected_version=0)
    Order.objects.filter(pk=mine.pk).update(version=1)
    return Orders(mine, other, mine_logs, other_logs)


def _placed_v1(order: Order) -> Envelope:
    """``order.placed`` as a producer from before v2 wrote it (a bare total, no currency)."""
    line = order.lines.get()
    return Envelope(
        kind=Kind.EVENT,
        type="order.placed",
        version=1,
        correlation_id=str(order.id),
        producer="orders",
        data={
            "order_id": str(order.id),
            "user_id": order.customer_id,
            "items": [
                {"product_id": line.product_id, "sku": line.sku, "quantity": line.quantity, "unit_price": "24.99"}
            ],
            "total": str(order.total),
            "placed_at": "2024-03-01T09:30:00+00:00",
        },
    )


def _change_url(obj: Model) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])


# --- who may enter ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_user_is_sent_to_login(client: Client, orders: Orders) -> None:
    for url in ("/admin/", _change_url(orders.mine)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
        assert "next=" in response["Location"]


@pytest.mark.django_db
def test_logged_in_non_staff_user_cannot_enter(client: Client, django_user_model: type[User], orders: Orders) -> None:
    user = django_user_model.objects.create_user(username="shopper", password="pw-12345")
    client.force_login(user)
    for url in ("/admin/", _change_url(orders.mine)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    login_page = client.get(_change_url(orders.mine), follow=True).content.decode()
    assert "not authorized to access this page" in login_page
    assert 'class="order-timeline"' not in login_page


@pytest.mark.django_db
def test_staff_without_permissions_cannot_view_an_order(
    client: Client, django_user_model: type[User], orders: Orders
) -> None:
    user = django_user_model.objects.create_user(username="intern", password="pw-12345", is_staff=True)
    client.force_login(user)
    assert client.get("/admin/").status_code == 200
    assert client.get(_change_url(orders.mine)).status_code == 403
    assert client.get(reverse("admin:orders_order_changelist")).status_code == 403


# --- what is registered ----------------------------------------------------------------------


def test_every_project_model_is_registered() -> None:
    from django.apps import apps

    project_models = {m for m in apps.get_models() if m._meta.app_label in PROJECT_APPS}
    assert len(project_models) >= 13
    assert project_models - set(admin.site._registry) == set()


@pytest.mark.django_db
def test_superuser_loads_every_changelist_and_change_page(admin_client: Client, orders: Orders) -> None:
    checked = 0
    for model in admin.site._registry:
        meta = model._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        response = admin_client.get(changelist)
        assert response.status_code == 200, changelist
        obj = model._default_manager.first()
        if obj is not None:
            assert admin_client.get(_change_url(obj)).status_code == 200, meta.label
            checked += 1
    assert checked >= 15  # every project model has a row, plus the admin user


@pytest.mark.django_db
def test_changelist_filters_and_search_work(admin_client: Client, orders: Orders) -> None:
    url = reverse("admin:orders_order_changelist")
    by_mode = admin_client.get(url, {"mode": FlowMode.COMMAND}).content.decode()
    assert str(orders.other.id)[:8] in by_mode
    assert str(orders.mine.id)[:8] not in by_mode
    by_email = admin_client.get(url, {"q": "ada@example.com"}).content.decode()
    assert str(orders.mine.id)[:8] in by_email
    assert str(orders.other.id)[:8] not in by_email
    by_short_id = admin_client.get(url, {"q": str(orders.other.id)[:8]}).content.decode()
    assert _change_url(orders.other) in by_short_id
    assert _change_url(orders.mine) not in by_short_id


# --- the order page --------------------------------------------------------------------------


@pytest.mark.django_db
def test_order_page_shows_its_own_messages_only(admin_client: Client, orders: Orders) -> None:
    response = admin_client.get(_change_url(orders.mine))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Timeline: the messages this order caused" in page
    assert 'class="order-timeline"' in page
    for row in orders.mine_logs:
        assert _change_url(row) in page
    for row in orders.other_logs:
        assert _change_url(row) not in page
    # One step (order.placed, sent by orders to events), handled by inventory from its own queue.
    (step,) = response.context["timeline"].steps
    assert (step.name, step.sender, step.route) == ("order.placed", "orders", "events")
    (handling,) = step.handlings
    assert (handling.consumer, handling.queue, handling.attempts, handling.duration_ms) == (
        "inventory",
        "inventory.events",
        3,
        12.5,
    )
    assert "from inventory.events" in page
    assert '<td class="timeline-numbers">12.5</td>' in page
    assert '<td class="timeline-problem">failed (retrying or replied)</td>' in page
    # Every value is escaped: the error text appears as text, never as markup.
    assert "<script>alert(" not in page
    assert "&lt;script&gt;alert(" in page
    # The lines inline, and the link to the filtered message log.
    assert "PROD-A" in page
    assert f"{reverse('admin:shop_messagelog_changelist')}?correlation_id={orders.mine.id}" in page


@pytest.mark.django_db
def test_order_page_shows_its_failed_commands(admin_client: Client, orders: Orders) -> None:
    page = admin_client.get(_change_url(orders.other)).content.decode()
    assert "no stock" in page
    assert "inventory.reserve" in page
    assert "no stock" not in admin_client.get(_change_url(orders.mine)).content.decode()


@pytest.mark.django_db
def test_message_log_filtered_by_correlation_id_lists_that_order_only(admin_client: Client, orders: Orders) -> None:
    url = reverse("admin:shop_messagelog_changelist")
    response = admin_client.get(url, {"correlation_id": str(orders.other.id)})
    assert response.status_code == 200
    page = response.content.decode()
    for row in orders.other_logs:
        assert _change_url(row) in page
    for row in orders.mine_logs:
        assert _change_url(row) not in page


@pytest.mark.django_db
def test_orders_are_not_written_from_the_admin(admin_client: Client, orders: Orders) -> None:
    response = admin_client.post(_change_url(orders.mine), {"status": Order.Status.CANCELLED})
    assert response.status_code == 403
    orders.mine.refresh_from_db()
    assert orders.mine.status == Order.Status.PLACED
    assert admin_client.get(reverse("admin:orders_order_add")).status_code == 403


# --- read-only records and editable ones -----------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("model", [InboxEntry, MessageLog])
def test_log_and_inbox_cannot_be_added_changed_or_deleted(
    admin_client: Client, orders: Orders, model: type[InboxEntry] | type[MessageLog]
) -> None:
    meta = model._meta
    before = model.objects.count()
    obj = model.objects.first()
    assert obj is not None
    assert admin_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_add")).status_code == 403
    assert admin_client.post(_change_url(obj), {"consumer": "x", "name": "x.done"}).status_code == 403
    delete = reverse(f"admin:{meta.app_label}_{meta.model_name}_delete", args=[obj.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert model.objects.count() == before


@pytest.mark.django_db
def test_injected_faults_can_be_armed_and_removed(admin_client: Client, orders: Orders) -> None:
    response = admin_client.post(
        reverse("admin:shop_injectedfault_add"),
        {"service": "inventory", "message_type": "order.placed", "error": "boom", "remaining": "2"},
    )
    assert response.status_code == 302
    fault = InjectedFault.objects.get(service="inventory")
    assert (fault.message_type, fault.remaining) == ("order.placed", 2)
    delete = reverse("admin:shop_injectedfault_delete", args=[fault.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert not InjectedFault.objects.filter(pk=fault.pk).exists()


@pytest.mark.django_db
def test_product_is_editable_but_its_stock_is_not(admin_client: Client, orders: Orders) -> None:
    product = Product.objects.get(sku="PROD-B")
    response = admin_client.post(
        _change_url(product), {"sku": product.sku, "name": "Gooseneck kettle", "price": "52.00", "stock": "9999"}
    )
    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.name, product.price, product.stock) == ("Gooseneck kettle", Decimal("52.00"), 50)


@pytest.mark.django_db
def test_dead_letter_reason_is_truncated_in_the_list(admin_client: Client, orders: Orders) -> None:
    page = admin_client.get(reverse("admin:shop_deadletter_changelist")).content.decode()
    assert "x" * 79 + "…" in page
    assert "x" * 81 not in page


# --- the event store and the order's history -------------------------------------------------


@dataclass
class Streams:
    mine: Order  # event mode: placed, paid, cancelled
    theirs: Order  # event mode: placed
    commanded: Order  # command mode: no stream


@pytest.fixture
def streams(catalog: None, recorded: RecordingTransport) -> Streams:
    """Orders placed and changed through the services, so their streams are the real thing."""
    ada = Customer.objects.get(email="ada@example.com")
    grace = Customer.objects.get(email="grace@example.com")
    cup = Product.objects.get(sku="PROD-A")

    def place(customer: Customer, mode: str) -> Order:
        return place_order(customer_id=customer.pk, items=[LineRequest(product_id=cup.pk, quantity=2)], mode=mode)

    mine = place(ada, FlowMode.EVENT)
    pay_order(mine.id, method="card")
    cancel_order(mine.id, reason="changed my mind")
    theirs = place(grace, FlowMode.EVENT)
    commanded = place(grace, FlowMode.COMMAND)
    pay_order(commanded.id, method="card")
    for order in (mine, theirs, commanded):
        order.refresh_from_db()
    return Streams(mine, theirs, commanded)


def _state_url(order: Order, version: int) -> str:
    return reverse("admin:orders_order_state", args=[order.pk, version])


def _stored(order: Order) -> list[EventRecord]:
    return list(EventRecord.objects.in_stream(str(order.id)))


@pytest.mark.django_db
def test_order_page_shows_its_own_event_stream_only(admin_client: Client, streams: Streams) -> None:
    page = admin_client.get(_change_url(streams.mine)).content.decode()
    assert 'class="order-events"' in page
    mine = _stored(streams.mine)
    assert [(e.version, e.type) for e in mine] == [(1, "order.placed"), (2, "order.paid"), (3, "order.cancelled")]
    for event in mine:
        assert _change_url(event) in page
        assert _state_url(streams.mine, event.version) in page
    for event in _stored(streams.theirs):
        assert _change_url(event) not in page
    assert _state_url(streams.mine, 4) not in page
    assert "3 stored events in stream" in page
    assert f"{reverse('admin:shop_eventrecord_changelist')}?stream_id={streams.mine.id}" in page
    assert "changed my mind" in page  # the data column, as read
    assert re.search(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}</td>", page)  # recorded, to the millisecond
    assert ".v</td>" not in page
    assert COMMAND_MODE_HISTORY not in page


@pytest.mark.django_db
def test_command_mode_order_page_says_no_history_is_kept(admin_client: Client, streams: Streams) -> None:
    page = admin_client.get(_change_url(streams.commanded)).content.decode()
    assert "command mode: no history is kept; the row is overwritten in place" in page
    assert 'class="order-events"' not in page
    assert "/state/" not in page


@pytest.mark.django_db
def test_state_view_folds_the_stream_up_to_the_version(admin_client: Client, streams: Streams) -> None:
    order = streams.mine
    expected = {1: "placed", 2: "paid", 3: "cancelled"}
    for version, status in expected.items():
        response = admin_client.get(_state_url(order, version))
        assert response.status_code == 200, version
        assert response.context["state"]["status"] == status
        assert [e["version"] for e in response.context["events"]] == list(range(1, version + 1))
        page = response.content.decode()
        assert f"<tr><th>status</th><td>{status}</td><td>cancelled</td></tr>" in page
        assert f"at version {version} of 3" in page
    assert expected[3] == order.status  # version N: the latest status, the same as the row

    first = admin_client.get(_state_url(order, 1))
    assert first.context["state"]["total"] == order.total
    assert first.context["previous_url"] is None and first.context["next_url"] == _state_url(order, 2)
    latest = admin_client.get(_state_url(order, 3))
    assert latest.context["state"]["payment_method"] == "card"
    assert latest.context["state"]["cancel_reason"] == "changed my mind"
    assert latest.context["next_url"] is None
    assert "admin/base_site.html" in [t.name for t in latest.templates]


@pytest.mark.django_db
def test_state_view_of_an_upcast_event(admin_client: Client, orders: Orders) -> None:
    """The ``orders`` fixture stores a v1 order.placed: the state page reads it as v2."""
    response = admin_client.get(_state_url(orders.mine, 1))
    assert response.status_code == 200
    assert response.context["state"]["status"] == "placed"
    assert response.context["state"]["total"] == Decimal("49.98")
    assert response.context["state"]["currency"] == "EUR"
    assert "v1, read as v3" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("which", ["version 0", "version past the end", "command mode", "no such order", "not an id"])
def test_state_view_is_404_when_there_is_no_such_state(admin_client: Client, streams: Streams, which: str) -> None:
    base = reverse("admin:orders_order_changelist")
    url = {
        "version 0": _state_url(streams.mine, 0),
        "version past the end": _state_url(streams.mine, 4),
        "command mode": _state_url(streams.commanded, 1),
        "no such order": _state_url(Order(id=uuid.uuid4()), 1),
        "not an id": f"{base}not-a-uuid/state/1/",
    }[which]
    assert admin_client.get(url).status_code == 404


@pytest.mark.django_db
def test_state_view_and_event_store_are_for_staff_with_permission(
    client: Client, django_user_model: type[User], streams: Streams
) -> None:
    event = _stored(streams.mine)[0]
    urls = [_state_url(streams.mine, 1), reverse("admin:shop_eventrecord_changelist"), _change_url(event)]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login"))
    intern = django_user_model.objects.create_user(username="intern", password="pw-12345", is_staff=True)
    client.force_login(intern)
    for url in urls:
        assert client.get(url).status_code == 403, url


@pytest.mark.django_db
def test_event_records_cannot_be_added_changed_or_deleted(admin_client: Client, streams: Streams) -> None:
    event = _stored(streams.mine)[0]
    before = list(EventRecord.objects.values())
    assert admin_client.get(reverse("admin:shop_eventrecord_add")).status_code == 403
    assert (
        admin_client.post(reverse("admin:shop_eventrecord_add"), {"stream_id": "x", "type": "x.y"}).status_code == 403
    )
    assert admin_client.post(_change_url(event), {"type": "order.forged", "data": "{}"}).status_code == 403
    delete = reverse("admin:shop_eventrecord_delete", args=[event.pk])
    assert admin_client.get(delete).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    changelist = reverse("admin:shop_eventrecord_changelist")
    bulk = admin_client.post(changelist, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"})
    assert bulk.status_code in {200, 302}  # no such action: the changelist just shows again
    assert list(EventRecord.objects.values()) == before


@pytest.mark.django_db
def test_event_record_pages_show_the_store_read_only(admin_client: Client, orders: Orders, streams: Streams) -> None:
    changelist = reverse("admin:shop_eventrecord_changelist")
    listing = admin_client.get(changelist)
    assert listing.status_code == 200
    assert "delete_selected" not in listing.content.decode()
    assert "Add stored event" not in listing.content.decode()

    def listed(params: dict[str, str]) -> set[int]:
        response = admin_client.get(changelist, params)
        assert response.status_code == 200, params
        return {e.pk for e in response.context["cl"].result_list}

    mine = {e.pk for e in _stored(streams.mine)}
    assert listed({"q": str(streams.mine.id)}) == mine
    assert listed({"stream_id": str(streams.mine.id)}) == mine
    assert listed({"type": "order.paid"}) == {e.pk for e in EventRecord.objects.filter(type="order.paid")}
    assert listed({"schema_version": "1"}) == {e.pk for e in EventRecord.objects.filter(schema_version=1)}
    message_id = str(_stored(streams.theirs)[0].message_id)
    assert listed({"q": message_id}) == {_stored(streams.theirs)[0].pk}

    old = _stored(orders.mine)[0]
    page = admin_client.get(_change_url(old)).content.decode()
    assert "upcast from v1 to v3" in page
    assert "&quot;currency&quot;: &quot;EUR&quot;" in page
    assert 'name="_save"' not in page  # nothing to save
