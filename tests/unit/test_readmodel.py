"""The read model: the projector's order summaries, their lag, the dashboard, and rebuilds.

The projector tracks each stream's version, so a redelivered event changes nothing, an event
that overtakes an earlier one pulls the earlier one from the store, and a rebuild from the store
ends where the live projector did.
"""

from __future__ import annotations

import io
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast, get_args

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from ninja.testing import TestClient

from catalog.models import Customer, Product
from contracts.common import OrderRef
from core.eventstore import store
from core.models import EventRecord, MessageLog
from messaging import bootstrap
from messaging.kernel import contracts
from messaging.kernel.consuming import deliver_event
from messaging.kernel.envelope import Envelope
from messaging.kernel.names import Kind
from messaging.kernel.subscriptions import subscriptions_for, table
from orders import review
from orders import services as orders
from orders.models import FlowMode, Order
from readmodel import handlers, projection, selectors, services
from readmodel.api import StatusName, router
from readmodel.models import OrderSummary, ProjectionTracking
from tests.fakes import RecordingTransport

pytestmark = pytest.mark.db_engine

transactional = pytest.mark.django_db(transaction=True)

SUMMARY_FIELDS = [
    "order_id",
    "customer_name",
    "item_count",
    "total",
    "currency",
    "status",
    "placed_at",
    "shipped_at",
    "flagged",
    "risk_score",
]


# --- helpers ---------------------------------------------------------------------------------


def _place(email: str, *lines: tuple[str, int]) -> Order:
    customer = Customer.objects.get(email=email)
    items = [orders.LineRequest(Product.objects.get(sku=sku).pk, qty) for sku, qty in lines]
    return orders.place_order(customer_id=customer.pk, items=items, mode=FlowMode.EVENT)


def _events_of(recorded: RecordingTransport, order: Order) -> list[Envelope]:
    return [e for e in recorded.delivered if e.correlation_id == str(order.id) and e.type.startswith("order.")]


def _push(envelope: Envelope) -> str | None:
    """Call the projector's handler directly, as a delivery that skipped the inbox would."""
    payload = cast(OrderRef, contracts.parse(envelope.type, envelope.version, envelope.data))
    return handlers.project(envelope, payload)


def _shipped_order(recorded: RecordingTransport) -> tuple[Order, list[Envelope]]:
    """An event-mode order placed, confirmed, paid, packed and shipped; nothing projected yet."""
    order = _place("ada@example.com", ("PROD-A", 2), ("PROD-B", 1))
    (placed,) = _events_of(recorded, order)
    review.clear_order(order.id, risk_score=0.0, cause=placed)  # fraud's verdict, then payment's
    orders.confirm_order(order.id, cause=placed)
    orders.pay_order(order.id, method="card")
    orders.pack_order(order.id, warehouse="W2")
    orders.ship_order(order.id, carrier="DHL", tracking="XYZ")
    events = _events_of(recorded, order)
    assert [e.type for e in events] == [
        "order.placed",
        "order.risk_scored",
        "order.confirmed",
        "order.paid",
        "order.packed",
        "order.shipped",
    ]
    return Order.objects.get(pk=order.id), events


def _snapshot() -> dict[str, dict[str, Any]]:
    return {str(row["order_id"]): row for row in OrderSummary.objects.values(*SUMMARY_FIELDS)}


def _tracking(stream_id: str) -> tuple[int, int]:
    row = ProjectionTracking.objects.get(projection=services.ORDER_SUMMARY, stream_id=stream_id)
    return row.version, row.position


def _event(stream_id: str, type: str, data: dict[str, Any], *, version: int = 1) -> Envelope:
    return Envelope(kind=Kind.EVENT, type=type, version=version, correlation_id=stream_id, producer="orders", data=data)


def _placed_v2(stream_id: str, user_id: int, amount: str = "10.00") -> Envelope:
    line = {"product_id": 1, "sku": "PROD-A", "quantity": 1, "unit_price": amount}
    data = {
        "order_id": stream_id,
        "user_id": user_id,
        "items": [line],
        "amount": amount,
        "currency": "EUR",
        "placed_at": "2025-03-15T14:30:00+00:00",
    }
    return _event(stream_id, "order.placed", data, version=2)


def _paid(stream_id: str) -> Envelope:
    return _event(stream_id, "order.paid", {"order_id": stream_id, "method": "card", "paid_at": _now()})


def _packed(stream_id: str) -> Envelope:
    return _event(stream_id, "order.packed", {"order_id": stream_id, "warehouse": "W2", "packed_at": _now()})


def _now() -> str:
    return datetime.now(UTC).isoformat()


# --- subscribing -----------------------------------------------------------------------------


def test_the_projector_subscribes_to_every_order_stream_event_on_its_own_queue() -> None:
    subscribers = table()
    for event_type in projection.ORDER_STREAM_EVENTS:
        assert "projector" in subscribers[event_type], event_type
        (subscription,) = subscriptions_for("projector", event_type)
        assert subscription.handler is handlers.project


def test_the_api_lists_the_same_statuses_as_the_projection() -> None:
    assert set(get_args(StatusName)) == set(projection.STATUSES)


# --- the fold ----------------------------------------------------------------------------------


@transactional
def test_a_shipped_order_is_folded_into_one_summary(recorded: RecordingTransport, catalog: None) -> None:
    order, events = _shipped_order(recorded)
    assert _push(events[0]) == "applied 6 events of the order's stream"
    summary = selectors.summary_for(order.id)
    assert summary is not None
    assert summary.customer_name == "Ada Lovelace"
    assert summary.item_count == 2  # order lines, as the lesson's event.items.length
    assert summary.total == order.total == Decimal("99.97")
    assert summary.currency == "EUR"
    assert summary.status == order.status == "shipped"
    assert summary.placed_at == order.placed_at
    assert summary.shipped_at == order.shipped_at is not None
    assert (summary.flagged, summary.risk_score) == (False, 0.0)
    assert _tracking(str(order.id)) == (6, store.read_stream(str(order.id))[-1].position)


@transactional
def test_a_v1_order_placed_is_read_upcast(catalog: None) -> None:
    """Old events stay in the store as written; the projection sees the newest shape."""
    stream = str(uuid.uuid4())
    ada = Customer.objects.get(email="ada@example.com")
    line = {"product_id": 1, "sku": "PROD-A", "quantity": 3, "unit_price": "24.99"}
    data = {"order_id": stream, "user_id": ada.pk, "items": [line], "total": "74.97", "placed_at": _now()}
    store.append(stream, [_event(stream, "order.placed", data, version=1)], expected_version=0)
    assert services.catch_up_stream(stream) == 1
    summary = selectors.summary_for(uuid.UUID(stream))
    assert summary is not None
    assert (summary.total, summary.currency, summary.status) == (Decimal("74.97"), "EUR", "placed")


@transactional
def test_a_command_mode_order_has_no_summary(recorded: RecordingTransport, catalog: None) -> None:
    ada = Customer.objects.get(email="ada@example.com")
    item = orders.LineRequest(Product.objects.get(sku="PROD-A").pk, 1)
    order = orders.place_order(customer_id=ada.pk, items=[item], mode=FlowMode.COMMAND)
    assert services.catch_up_stream(str(order.id)) == 0
    assert selectors.summary_for(order.id) is None
    assert not ProjectionTracking.objects.exists()


# --- delivery: redelivered, late, out of order -------------------------------------------------


@transactional
def test_a_redelivered_event_changes_nothing(recorded: RecordingTransport, catalog: None) -> None:
    order, events = _shipped_order(recorded)
    for event in events:
        _push(event)
    before, tracked = _snapshot(), _tracking(str(order.id))
    for event in events:  # the same events again, with no inbox to stop them
        assert _push(event) == "already applied"
    assert _snapshot() == before
    assert _tracking(str(order.id)) == tracked


@transactional
def test_the_inbox_skips_a_redelivery_before_the_projector_sees_it(recorded: RecordingTransport, catalog: None) -> None:
    order, events = _shipped_order(recorded)
    first = deliver_event("projector", events[0].to_wire(), queue="projector.events")
    second = deliver_event("projector", events[0].to_wire(), queue="projector.events")
    assert (first.status, second.status) == (MessageLog.Status.HANDLED, MessageLog.Status.DUPLICATE)
    assert first.value == {"did": ["applied 6 events of the order's stream"]}
    assert OrderSummary.objects.get(order_id=order.id).status == "shipped"


@transactional
def test_an_event_pushed_first_fetches_the_missing_ones_and_a_late_one_is_harmless(
    recorded: RecordingTransport, catalog: None
) -> None:
    order, events = _shipped_order(recorded)
    placed, scored, confirmed, paid, packed, shipped = events
    # The last event arrives first: the five before it are read from the store.
    assert _push(shipped) == "applied 6 events of the order's stream"
    after_shipped = _snapshot()
    for late in (packed, placed, paid, scored, confirmed):
        assert _push(late) == "already applied"
    assert _snapshot() == after_shipped
    assert after_shipped[str(order.id)]["status"] == "shipped"


@transactional
def test_a_push_that_overtakes_an_earlier_event_applies_both_in_version_order(catalog: None) -> None:
    """v3 arrives while the projector is at v1: v2 comes from the store, then v3."""
    stream = str(uuid.uuid4())
    ada = Customer.objects.get(email="ada@example.com")
    store.append(stream, [_placed_v2(stream, ada.pk)], expected_version=0)
    assert services.catch_up_stream(stream) == 1
    assert _tracking(stream)[0] == 1
    paid, packed = _paid(stream), _packed(stream)
    store.append(stream, [paid, packed], expected_version=1)
    assert _push(packed) == "applied 2 events of the order's stream"
    assert OrderSummary.objects.get(order_id=stream).status == "packed"
    assert _push(paid) == "already applied"  # the overtaken event, delivered late
    assert OrderSummary.objects.get(order_id=stream).status == "packed"
    assert _tracking(stream)[0] == 3


@transactional
def test_competing_projectors_apply_each_event_once(catalog: None) -> None:
    """Two consumers catching up one stream at once: the tracking row's lock lets one apply."""
    stream = str(uuid.uuid4())
    ada = Customer.objects.get(email="ada@example.com")
    store.append(stream, [_placed_v2(stream, ada.pk), _paid(stream), _packed(stream)], expected_version=0)
    applied: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2, timeout=10)

    def catch_up() -> None:
        try:
            start.wait()
            applied.append(services.catch_up_stream(stream))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=catch_up) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert sorted(applied) == [0, 3]
    assert _tracking(stream)[0] == 3


# --- lag ---------------------------------------------------------------------------------------


@transactional
def test_lag_before_and_after_catching_up(catalog: None) -> None:
    ada = Customer.objects.get(email="ada@example.com")
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    a1, a2 = store.append(a, [_placed_v2(a, ada.pk), _paid(a)], expected_version=0)
    (b1,) = store.append(b, [_placed_v2(b, ada.pk)], expected_version=0)
    head = b1.position
    assert selectors.lag() == {
        "projection": "order_summary",
        "head_position": head,
        "applied_position": a1.position - 1,
        "pending_events": 3,
    }
    # b is caught up first: a's events are older, so the applied position cannot move past them.
    services.catch_up_stream(b)
    assert selectors.lag()["applied_position"] == a1.position - 1
    assert selectors.lag()["pending_events"] == 2
    services.catch_up_stream(a)
    assert selectors.lag() == {
        "projection": "order_summary",
        "head_position": head,
        "applied_position": head,
        "pending_events": 0,
    }
    assert a2.position < head


@pytest.mark.django_db
def test_lag_of_an_empty_store() -> None:
    assert selectors.lag() == {
        "projection": "order_summary",
        "head_position": 0,
        "applied_position": 0,
        "pending_events": 0,
    }


# --- the dashboard -----------------------------------------------------------------------------


@pytest.fixture
def summaries(db: None) -> dict[str, OrderSummary]:
    def row(customer: str, status: str, total: str, *, day: int, flagged: bool = False) -> OrderSummary:
        return OrderSummary.objects.create(
            order_id=uuid.uuid4(),
            customer_name=customer,
            item_count=1,
            total=Decimal(total),
            currency="EUR",
            status=status,
            placed_at=datetime(2025, 3, day, 12, tzinfo=UTC),
            flagged=flagged,
            risk_score=0.85 if flagged else None,
        )

    return {
        "ada_shipped": row("Ada Lovelace", "shipped", "99.97", day=1),
        "ada_placed": row("Ada Lovelace", "placed", "24.99", day=2),
        "grace_confirmed": row("Grace Hopper", "confirmed", "13.50", day=3),
        "mallory_held": row("Mallory Fake", "on_hold", "1250.00", day=4, flagged=True),
    }


def _names(rows: Any, summaries: dict[str, OrderSummary]) -> list[str]:
    by_id = {s.order_id: name for name, s in summaries.items()}
    return [by_id[r.order_id] for r in rows]


def test_the_dashboard_filters(summaries: dict[str, OrderSummary]) -> None:
    dashboard = selectors.dashboard
    everything = ["mallory_held", "grace_confirmed", "ada_placed", "ada_shipped"]  # newest first
    assert _names(dashboard(), summaries) == everything
    assert _names(dashboard(status="shipped"), summaries) == ["ada_shipped"]
    assert _names(dashboard(customer="LOVE"), summaries) == ["ada_placed", "ada_shipped"]
    assert _names(dashboard(customer="hopper"), summaries) == ["grace_confirmed"]
    assert _names(dashboard(flagged=True), summaries) == ["mallory_held"]
    assert _names(dashboard(flagged=False), summaries) == everything[1:]
    assert _names(dashboard(min_total=Decimal("24.99")), summaries) == ["mallory_held", "ada_placed", "ada_shipped"]
    assert _names(dashboard(customer="ada", min_total=Decimal("50")), summaries) == ["ada_shipped"]
    assert _names(dashboard(status="paid"), summaries) == []


def test_the_dashboard_reads_one_table_with_no_join(summaries: dict[str, OrderSummary]) -> None:
    with CaptureQueriesContext(connection) as queries:
        rows = list(selectors.dashboard(status="placed", customer="ada", flagged=False, min_total=Decimal("1")))
    assert len(rows) == 1
    (query,) = queries.captured_queries
    assert "JOIN" not in query["sql"].upper()
    assert OrderSummary._meta.db_table in query["sql"]


def test_dashboard_api_answers_the_orders_with_the_lag(summaries: dict[str, OrderSummary]) -> None:
    client = TestClient(router)
    response = client.get("/dashboard?status=on_hold&customer=mall&flagged=true&min_total=1000")
    assert response.status_code == 200
    body = response.json()
    assert body["lag"] == {
        "projection": "order_summary",
        "head_position": 0,
        "applied_position": 0,
        "pending_events": 0,
    }
    (held,) = body["orders"]
    assert held["order_id"] == str(summaries["mallory_held"].order_id)
    assert held["customer_name"] == "Mallory Fake"
    assert (held["status"], held["flagged"], held["risk_score"]) == ("on_hold", True, 0.85)
    assert Decimal(held["total"]) == Decimal("1250.00")


def test_dashboard_api_filters_nothing_for_an_omitted_parameter_or_an_empty_name(
    summaries: dict[str, OrderSummary],
) -> None:
    assert len(TestClient(router).get("/dashboard").json()["orders"]) == 4
    # Every name contains the empty string.
    assert len(TestClient(router).get("/dashboard?customer=").json()["orders"]) == 4
    assert len(TestClient(router).get("/dashboard?limit=2").json()["orders"]) == 2
    assert len(TestClient(router).get("/dashboard?min_total=1000.00").json()["orders"]) == 1


@pytest.mark.parametrize("field", ["status", "flagged", "min_total"])
@pytest.mark.django_db
def test_dashboard_api_refuses_an_empty_value_that_is_not_of_the_parameters_type(field: str) -> None:
    """``flagged=`` is not a boolean, nor ``min_total=`` an amount: 422, as the document's types say
    (it used to mean "no filter", which the document did not say)."""
    response = TestClient(router).get(f"/dashboard?{field}=")
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", field]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=lost", "status"),
        ("flagged=perhaps", "flagged"),
        ("min_total=lots", "min_total"),
        ("min_total=-1", "min_total"),
        # The digit limits the document states (^[0-9]{1,12}(\.[0-9]{1,2})?$): no exponent, 2 decimals.
        ("min_total=3.54e-46", "min_total"),
        ("min_total=1e3", "min_total"),
        ("min_total=1.234", "min_total"),
        ("min_total=1234567890123", "min_total"),
        # A boolean is written true or false, as the document's type says; not 1, yes or on.
        ("flagged=1", "flagged"),
        ("flagged=yes", "flagged"),
        ("limit=0", "limit"),
    ],
)
@pytest.mark.django_db
def test_dashboard_api_refuses_a_bad_filter_naming_it(query: str, field: str) -> None:
    response = TestClient(router).get(f"/dashboard?{query}")
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", field]


@transactional
def test_projections_api_lists_each_projection_lag(catalog: None) -> None:
    ada = Customer.objects.get(email="ada@example.com")
    stream = str(uuid.uuid4())
    (event,) = store.append(stream, [_placed_v2(stream, ada.pk)], expected_version=0)
    response = TestClient(router).get("/projections")
    assert response.status_code == 200
    assert response.json() == [
        {
            "projection": "order_summary",
            "head_position": event.position,
            "applied_position": event.position - 1,
            "pending_events": 1,
        }
    ]


# --- rebuild -----------------------------------------------------------------------------------


@pytest.fixture
def live_worker(catalog: None) -> Iterator[None]:
    """Every service's worker, in this process, on memory:// (as the memory tier does)."""
    from messaging.celery_adapter.embedded import embedded_worker
    from shop.celery import app

    bootstrap.configure()
    with embedded_worker(app):
        yield


def _unsettled() -> list[str]:
    """Events some subscriber has not handled yet, as "name->service"."""
    subscribers = table()
    rows = list(MessageLog.objects.all())
    handled = {(r.message_id, r.service) for r in rows if r.status != MessageLog.Status.SENT}
    return [
        f"{r.name}->{service}"
        for r in rows
        if r.status == MessageLog.Status.SENT and r.kind == "event"
        for service in subscribers.get(r.name, [])
        if (r.message_id, service) not in handled
    ]


def _wait(what: str, done: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; unsettled: {_unsettled()}")
        time.sleep(0.05)


def _settled() -> bool:
    return not _unsettled() and selectors.lag()["pending_events"] == 0


@transactional
def test_a_rebuild_ends_where_the_live_projector_did(live_worker: None) -> None:
    shipped = _place("ada@example.com", ("PROD-A", 2), ("PROD-B", 1))
    paid = _place("grace@example.com", ("PROD-D", 3))
    held = _place("mallory@mailinator.com", ("PROD-C", 1))  # fraud flags it: on hold
    rejected = _place("ada@example.com", ("PROD-E", 2))  # one in stock: the reservation fails
    cancelled = _place("grace@example.com", ("PROD-A", 1))
    placed = [shipped, paid, held, rejected, cancelled]

    def reserved_or_cancelled() -> bool:
        rows = Order.objects.filter(pk__in=[o.pk for o in placed])
        # The held order's stock and payment are secured (authorized_at), but it is not confirmed.
        secured = all(o.authorized_at is not None or o.status == "cancelled" for o in rows)
        return secured and _settled()

    _wait("every order to be secured or cancelled", reserved_or_cancelled)
    orders.pay_order(shipped.id, method="card")
    orders.pack_order(shipped.id, warehouse="W2")
    orders.ship_order(shipped.id, carrier="DHL", tracking="XYZ")
    orders.pay_order(paid.id, method="paypal")
    orders.cancel_order(cancelled.id)
    _wait("the projector to catch up", _settled)

    live = _snapshot()
    expected = {shipped.id: "shipped", paid.id: "paid", held.id: "on_hold", rejected.id: "cancelled"}
    expected[cancelled.id] = "cancelled"
    assert {uuid.UUID(k): v["status"] for k, v in live.items()} == expected
    for order in Order.objects.filter(pk__in=expected):  # the read model agrees with the write model
        row = live[str(order.id)]
        assert row["status"] == order.status
        assert row["total"] == order.total
        assert row["customer_name"] == order.customer.name
        assert row["flagged"] == bool(order.hold_reason)
        assert row["risk_score"] == order.risk_score
        assert row["shipped_at"] == order.shipped_at
    live_tracking = set(ProjectionTracking.objects.values_list("stream_id", "version", "position"))

    out = io.StringIO()
    call_command("rebuild_projections", "--batch-size", "3", stdout=out)
    assert _snapshot() == live
    assert set(ProjectionTracking.objects.values_list("stream_id", "version", "position")) == live_tracking
    assert f"Rebuilt 5 order summaries from {EventRecord.objects.count()} events" in out.getvalue()
    assert "events/s" in out.getvalue()


@transactional
def test_a_rebuild_continues_from_a_live_projectors_row_not_from_its_own_last_batch(catalog: None) -> None:
    """Between two batches of a rebuild the live projector moves a stream: the next batch must
    continue from the row the projector wrote (a rebuild that kept its own last batch's
    summaries in memory, to skip reading them back, would lose the projector's event)."""
    stream = str(uuid.uuid4())
    ada = Customer.objects.get(email="ada@example.com")
    store.append(stream, [_placed_v2(stream, ada.pk), _paid(stream)], expected_version=0)
    scored = _event(stream, "order.risk_scored", {"order_id": stream, "risk_score": 0.7})

    def between_batches(applied: int, total: int) -> None:
        if applied == 2 and store.stream_version(stream) == 2:  # after the first batch, once
            store.append(stream, [scored], expected_version=2)
            assert services.catch_up_stream(stream) == 1  # the live projector, at v3 now
            store.append(stream, [_packed(stream)], expected_version=3)

    report = services.rebuild(batch_size=2, progress=between_batches)

    row = OrderSummary.objects.get(order_id=stream)
    assert (row.status, row.risk_score, row.customer_name) == ("packed", 0.7, ada.name)
    assert _tracking(stream)[0] == 4
    assert report.events == 3  # v1, v2 and v4: v3 was the live projector's


@transactional
def test_a_rebuild_replaces_a_corrupted_read_model(recorded: RecordingTransport, catalog: None) -> None:
    order, events = _shipped_order(recorded)
    _push(events[0])
    good = _snapshot()
    OrderSummary.objects.filter(order_id=order.id).update(status="placed", customer_name="someone else")
    OrderSummary.objects.create(order_id=uuid.uuid4(), customer_name="ghost", total=1, currency="EUR", status="paid")
    seen: list[tuple[int, int]] = []
    report = services.rebuild(batch_size=2, progress=lambda done, total: seen.append((done, total)))
    assert _snapshot() == good
    assert (report.events, report.streams) == (6, 1)
    assert seen[0] == (0, 6) and seen[-1] == (6, 6)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


# --- admin -------------------------------------------------------------------------------------


@transactional
def test_admin_shows_the_lag_and_rebuilds_on_post(
    admin_client: Client, recorded: RecordingTransport, catalog: None
) -> None:
    order, _ = _shipped_order(recorded)
    changelist = reverse("admin:readmodel_ordersummary_changelist")
    page = admin_client.get(changelist).content.decode()
    assert 'id="projection-lag"' in page
    assert "6 events not applied yet" in page
    assert "Rebuild projections" in page
    rebuild = reverse("admin:readmodel_ordersummary_rebuild")
    assert admin_client.get(rebuild).status_code == 405
    response = admin_client.post(rebuild, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Rebuilt 1 order summaries from 6 events" in page
    assert "up to date" in page
    assert OrderSummary.objects.get(order_id=order.id).status == "shipped"
    tracking = admin_client.get(reverse("admin:readmodel_projectiontracking_changelist")).content.decode()
    assert 'id="projection-lag"' in tracking


@pytest.mark.django_db
def test_admin_read_model_is_read_only_and_rebuild_needs_permission(
    client: Client, django_user_model: type[User], summaries: dict[str, OrderSummary]
) -> None:
    intern = django_user_model.objects.create_user(username="intern", password="pw-12345", is_staff=True)
    client.force_login(intern)
    rebuild = reverse("admin:readmodel_ordersummary_rebuild")
    assert client.post(rebuild).status_code == 403
    assert OrderSummary.objects.count() == 4
    intern.user_permissions.add(Permission.objects.get(codename="view_ordersummary"))
    page = client.get(reverse("admin:readmodel_ordersummary_changelist")).content.decode()
    assert "Rebuild projections" in page
    assert reverse("admin:readmodel_ordersummary_add") not in page
    row = summaries["ada_shipped"]
    change = client.get(reverse("admin:readmodel_ordersummary_change", args=[row.pk])).content.decode()
    assert 'name="_save"' not in change


@pytest.mark.django_db
def test_the_dashboard_is_served_under_api(client: Client, summaries: dict[str, OrderSummary]) -> None:
    """Mounted in api/site.py: the same answers, and refusals in the API's one error shape."""
    body = client.get("/api/dashboard", {"customer": "grace"}).json()
    assert [o["customer_name"] for o in body["orders"]] == ["Grace Hopper"]
    assert body["lag"]["pending_events"] == 0
    refused = client.get("/api/dashboard", {"flagged": "perhaps"})
    assert refused.status_code == 422
    assert [e["loc"] for e in refused.json()["detail"]] == [["query", "flagged"]]
    assert client.get("/api/projections").json()[0]["projection"] == "order_summary"
