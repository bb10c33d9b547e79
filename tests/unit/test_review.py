"""Held orders: nothing final before a person decides, and the staff-only ways to decide.

No worker runs here (the buses record what they would send): each test states fraud's verdict
and the fulfilment's last answer to the order service directly, as the handlers would, and
checks what the order service then does, in both modes. The end-to-end runs on each broker are
tests/integration/test_mode_comparison.py and test_saga_scenarios.py.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from contracts.replies import CommandOutcome
from messaging.kernel.envelope import Envelope
from messaging.kernel.names import Kind
from orders import replay, review
from orders.models import Order, Saga
from orders.services import confirm_order
from orders.tasks import advance_saga
from tests.fakes import RecordingTransport
from tests.unit.test_api import CaptureCallbacks, only_error, place, post

pytestmark = pytest.mark.db_engine

MODES = ["command", "event"]
#: What confirming sends: the confirmation e-mail and revenue (commands), or the fact (event).
CONFIRMATION = {"order.confirmed", "email.send", "analytics.record"}


def secured(order_id: str, capture: CaptureCallbacks) -> Order:
    """The fulfilment's last answers: in command mode the saga's two replies, in event mode
    payments' ``payment.authorized``."""
    if Order.objects.get(pk=order_id).mode == "command":
        for command in ("inventory.reserve", "payment.authorize"):
            outcome = CommandOutcome(command=command, command_id=uuid.uuid4(), ok=True, request={"order_id": order_id})
            with capture(execute=True):
                advance_saga(_cause(order_id, "orders.advance_saga", Kind.COMMAND), outcome)
        return Order.objects.get(pk=order_id)
    with capture(execute=True):
        return confirm_order(uuid.UUID(order_id), cause=_cause(order_id, "payment.authorized", Kind.EVENT))


def _cause(order_id: str, name: str, kind: Kind) -> Envelope:
    data = {"order_id": order_id, "amount": "24.99", "currency": "EUR"}
    return Envelope(kind=kind, type=name, correlation_id=order_id, producer="payments", data=data)


def flagged(order_id: str, capture: CaptureCallbacks) -> Order:
    with capture(execute=True):
        return review.hold_order(uuid.UUID(order_id), risk_score=0.85, reasons=["disposable email domain"])


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


@pytest.fixture
def capture(django_capture_on_commit_callbacks: CaptureCallbacks) -> CaptureCallbacks:
    return django_capture_on_commit_callbacks


@pytest.fixture
def staff(django_user_model: type[User]) -> dict[str, str]:
    django_user_model.objects.create_user(username="alice", password="pw-staff-1", is_staff=True)
    return basic("alice", "pw-staff-1")


@pytest.fixture
def held(
    client: Client, recorded: RecordingTransport, capture: CaptureCallbacks, catalog: None
) -> Callable[[str], str]:
    def make(mode: str) -> str:
        order_id = str(place(client, capture, mode=mode)["id"])
        flagged(order_id, capture)
        return order_id

    return make


@pytest.mark.parametrize("mode", MODES)
def test_held_order_is_secured_but_not_confirmed(
    mode: str, held: Callable[[str], str], recorded: RecordingTransport, capture: CaptureCallbacks
) -> None:
    order_id = held(mode)
    recorded.delivered.clear()

    order = secured(order_id, capture)

    assert (order.status, order.reserved_at) == (Order.Status.ON_HOLD, None)
    assert order.authorized_at is not None
    assert not CONFIRMATION & set(recorded.names)
    if mode == "event":
        assert recorded.names == ["order.authorized"]
    else:
        saga = Saga.objects.get(order_id=order_id)
        assert (saga.state, saga.current_step) == (Saga.State.RUNNING, "review")


@pytest.mark.parametrize("mode", MODES)
def test_an_order_waits_for_frauds_verdict_then_confirms(
    mode: str, client: Client, recorded: RecordingTransport, capture: CaptureCallbacks, catalog: None
) -> None:
    order_id = str(place(client, capture, mode=mode)["id"])
    order = secured(order_id, capture)
    assert (order.status, order.risk_score, order.reserved_at) == (Order.Status.PLACED, None, None)

    with capture(execute=True):
        order = review.clear_order(uuid.UUID(order_id), risk_score=0.0)

    assert (order.status, order.risk_score) == (Order.Status.CONFIRMED, 0.0)
    assert order.reserved_at is not None
    assert ("order.confirmed" in recorded.names) == (mode == "event")
    assert ("email.send" in recorded.names) == (mode == "command")


@pytest.mark.parametrize("mode", MODES)
def test_staff_release_confirms_a_secured_held_order(
    mode: str,
    client: Client,
    held: Callable[[str], str],
    staff: dict[str, str],
    recorded: RecordingTransport,
    capture: CaptureCallbacks,
) -> None:
    order_id = held(mode)
    secured(order_id, capture)

    with capture(execute=True):
        response = post_as(client, staff, f"/api/orders/{order_id}/release", {"note": "known customer"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["reviewed_by"], body["cancel_reason"]) == ("confirmed", "alice", "")
    assert body["reserved_at"] is not None and body["reviewed_at"] is not None
    if mode == "event":
        assert recorded.names[-2:] == ["order.released", "order.confirmed"]
        _, drift = replay.audit(Order.objects.get(pk=order_id))
        assert drift == []
    else:
        assert {"email.send", "analytics.record"} <= set(recorded.names)
        assert Saga.objects.get(order_id=order_id).state == Saga.State.COMPLETED


@pytest.mark.parametrize("mode", MODES)
def test_release_before_the_fulfilment_finished_confirms_when_it_does(
    mode: str, client: Client, held: Callable[[str], str], staff: dict[str, str], capture: CaptureCallbacks
) -> None:
    order_id = held(mode)
    with capture(execute=True):
        released = post_as(client, staff, f"/api/orders/{order_id}/release")
    assert released.json()["status"] == "placed"

    assert secured(order_id, capture).status == Order.Status.CONFIRMED


@pytest.mark.parametrize("mode", MODES)
def test_staff_reject_cancels_and_undoes(
    mode: str,
    client: Client,
    held: Callable[[str], str],
    staff: dict[str, str],
    recorded: RecordingTransport,
    capture: CaptureCallbacks,
) -> None:
    order_id = held(mode)
    secured(order_id, capture)
    recorded.delivered.clear()

    with capture(execute=True):
        response = post_as(client, staff, f"/api/orders/{order_id}/reject", {"note": "stolen card"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["cancel_reason"] == "rejected after review by alice: stolen card"
    if mode == "event":
        # Inventory releases and payments voids on the cancellation, by themselves.
        assert recorded.names == ["order.cancelled"]
    else:
        assert {"inventory.release", "payment.void", "email.send"} <= set(recorded.names)
        templates = [e.data["template"] for e in recorded.delivered if e.type == "email.send"]
        assert templates == ["order-cancelled"]
    assert not {"order.confirmed", "analytics.record"} & set(recorded.names)


def post_as(client: Client, headers: dict[str, str], path: str, body: Any = None) -> Any:
    data = json.dumps({} if body is None else body)
    return client.post(path, data, content_type="application/json", headers=_headers(headers))


def _headers(meta: dict[str, str]) -> dict[str, str]:
    """``basic()`` gives WSGI environ keys (HTTP_AUTHORIZATION); the client's headers= wants names."""
    return {key.removeprefix("HTTP_").replace("_", "-").title(): value for key, value in meta.items()}


@pytest.mark.parametrize("action", ["release", "reject"])
def test_staff_endpoints_refuse_everyone_else(
    action: str, client: Client, held: Callable[[str], str], django_user_model: type[User]
) -> None:
    order_id = held("command")
    path = f"/api/orders/{order_id}/{action}"
    django_user_model.objects.create_user(username="shopper", password="pw-shopper-1")

    anonymous = post(client, path)
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Basic")
    assert only_error(anonymous)["type"] == "not_authenticated"
    assert post_as(client, basic("alice", "wrong"), path).status_code == 401
    not_staff = post_as(client, basic("shopper", "pw-shopper-1"), path)
    assert not_staff.status_code == 403
    assert "staff" in only_error(not_staff)["msg"]
    assert Order.objects.get(pk=order_id).status == Order.Status.ON_HOLD


def test_staff_session_works_too(client: Client, held: Callable[[str], str], django_user_model: type[User]) -> None:
    order_id = held("event")
    client.force_login(django_user_model.objects.create_user(username="bob", password="pw-bob-1", is_staff=True))
    response = post(client, f"/api/orders/{order_id}/reject")
    assert response.status_code == 200, response.content
    assert response.json()["cancel_reason"] == "rejected after review by bob"


@pytest.mark.parametrize("action", ["release", "reject"])
def test_only_a_held_order_can_be_reviewed(
    action: str,
    client: Client,
    staff: dict[str, str],
    recorded: RecordingTransport,
    capture: CaptureCallbacks,
    catalog: None,
) -> None:
    order_id = str(place(client, capture, mode="event")["id"])
    conflict = post_as(client, staff, f"/api/orders/{order_id}/{action}")
    assert conflict.status_code == 409
    assert "on_hold" in only_error(conflict)["msg"]
    missing = post_as(client, staff, f"/api/orders/{uuid.uuid4()}/{action}")
    assert missing.status_code == 404
    too_long = post_as(client, staff, f"/api/orders/{order_id}/{action}", {"note": "x" * 301})
    assert too_long.status_code == 422
    assert only_error(too_long)["loc"] == ["body", "note"]


@pytest.mark.parametrize(("action", "status"), [("release_holds", "placed"), ("reject_holds", "cancelled")])
def test_admin_actions_release_and_reject(
    action: str, status: str, admin_client: Client, held: Callable[[str], str], capture: CaptureCallbacks
) -> None:
    held_id, other_id = held("command"), held("event")
    review.release_hold(uuid.UUID(other_id), reviewed_by="someone")  # no longer held: left alone

    with capture(execute=True):
        response = admin_client.post(
            "/admin/orders/order/", {"action": action, "_selected_action": [held_id, other_id]}, follow=True
        )

    assert response.status_code == 200
    text = response.content.decode()
    assert "1 held order " in text and "Not " in text
    order = Order.objects.get(pk=held_id)
    assert (order.status, order.reviewed_by) == (status, "admin")
    assert Order.objects.get(pk=other_id).reviewed_by == "someone"


def test_over_real_csrf_anonymous_is_401_and_a_session_needs_its_token(
    held: Callable[[str], str], django_user_model: type[User]
) -> None:
    """As a browser or curl meets it: the test client normally skips CSRF; here it enforces it."""
    order_id = held("command")
    path = f"/api/orders/{order_id}/release"
    browser = Client(enforce_csrf_checks=True)

    assert post(browser, path).status_code == 401, "no session, no credentials: 401, not a CSRF 403"
    assert post_as(browser, basic("alice", "wrong"), path).status_code == 401

    staff = django_user_model.objects.create_user(username="carol", password="pw-carol-1", is_staff=True)
    browser.force_login(staff)
    forged = post(browser, path)
    assert forged.status_code == 403, "a session without its CSRF token is refused"
    assert Order.objects.get(pk=order_id).status == Order.Status.ON_HOLD

    browser.get("/admin/")  # sets the csrftoken cookie, as the admin page does
    token = browser.cookies["csrftoken"].value
    released = browser.post(path, "{}", content_type="application/json", headers={"X-CSRFToken": token})
    assert released.status_code == 200, released.content
    assert released.json()["reviewed_by"] == "carol"
