"""The admin: staff only, every model listed, each order with the messages it caused."""

from __future__ import annotations

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
from fraud.models import RiskAssessment
from inventory.models import Reservation
from notifications.models import SentEmail
from orders.models import FailedCommand, FlowMode, Order, OrderLine
from shop.models import DeadLetter, InboxEntry, InjectedFault, MessageLog

PROJECT_APPS = {"shop", "catalog", "orders", "inventory", "analytics", "fraud", "notifications"}


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
    defaults: dict[str, object] = {"kind": "event", "route": "events", "status": MessageLog.Status.SENT}
    defaults.update(fields)
    return MessageLog.objects.create(
        message_id=uuid.uuid4(), name=name, service=service, correlation_id=str(order.id), **defaults
    )


@pytest.fixture
def orders(catalog: None) -> Orders:
    """Two orders and a row of every project model, so list and change pages render real rows."""
    ada = Customer.objects.get(email="ada@example.com")
    grace = Customer.objects.get(email="grace@example.com")
    mine = _order(ada, FlowMode.EVENT)
    other = _order(grace, FlowMode.COMMAND)
    mine_logs = [
        _log(mine, "order.placed", "orders", outcome={"published": True}),
        _log(
            mine,
            "order.placed",
            "inventory",
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
    return Orders(mine, other, mine_logs, other_logs)


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
    assert 'class="order-messages"' not in login_page


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
    assert checked >= 14  # every project model has a row, plus the admin user


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
    assert "Messages this order caused" in page
    assert 'class="order-messages"' in page
    for row in orders.mine_logs:
        assert _change_url(row) in page
    for row in orders.other_logs:
        assert _change_url(row) not in page
    assert "inventory.events" in page
    assert "12.5" in page
    assert "&quot;published&quot;: true" in page
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
