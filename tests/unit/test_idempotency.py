"""``Idempotency-Key`` on ``POST /api/orders``: a retried submission returns the first order.

The key is stored in the order's own transaction (orders.services.place_order), so it exists
exactly when its order does; a concurrent duplicate is settled by the key's unique constraint.
The same key with a different request is a 422 naming the header, as is a malformed key.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client

from catalog.models import Customer, Product
from orders import services
from orders.models import IdempotencyKey, Order
from orders.services import LineRequest, place_order
from tests.fakes import RecordingTransport

pytestmark = pytest.mark.db_engine

CaptureCallbacks = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]

HEADER = "Idempotency-Key"


def body(**overrides: Any) -> dict[str, Any]:
    ada = Customer.objects.get(email="ada@example.com").pk
    cup = Product.objects.get(sku="PROD-A").pk
    return {"user_id": ada, "items": [{"product_id": cup, "quantity": 2}], "mode": "event", **overrides}


def post(client: Client, payload: Any, key: str | None = None, *, raw: str | None = None) -> Any:
    headers = {} if key is None else {HEADER: key}
    data = raw if raw is not None else json.dumps(payload)
    return client.post("/api/orders", data, content_type="application/json", headers=headers)


def only_error(response: Any) -> dict[str, Any]:
    detail = response.json()["detail"]
    assert len(detail) == 1, detail
    error: dict[str, Any] = detail[0]
    return error


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["command", "event"])
def test_a_retry_with_the_same_key_returns_the_same_order(
    client: Client,
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
    mode: str,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, body(mode=mode), "order-7f3a")
    sent = list(recorded.names)
    with django_capture_on_commit_callbacks(execute=True):
        retry = post(client, body(mode=mode), "order-7f3a")

    assert first.status_code == retry.status_code == 201, retry.content
    assert retry.json() == first.json()
    assert Order.objects.count() == 1
    assert IdempotencyKey.objects.get().order_id == Order.objects.get().pk
    assert recorded.names == sent  # the retry set nothing off


@pytest.mark.django_db
def test_the_same_request_spelled_differently_is_still_a_retry(
    client: Client, recorded: RecordingTransport, catalog: None
) -> None:
    """The fingerprint is of the canonical request: key order, whitespace, an omitted null."""
    first = post(client, body(mode=None), "k1")
    payload = body()
    payload.pop("mode")
    spelled_differently = json.dumps({"items": payload["items"], "user_id": payload["user_id"]}, indent=4)

    retry = post(client, None, "k1", raw=spelled_differently)

    assert retry.status_code == 201, retry.content
    assert retry.json()["id"] == first.json()["id"]
    assert Order.objects.count() == 1


def _other_quantity(payload: dict[str, Any]) -> None:
    payload["items"] = [{**payload["items"][0], "quantity": 3}]


def _other_mode(payload: dict[str, Any]) -> None:
    payload["mode"] = "command"


def _other_customer(payload: dict[str, Any]) -> None:
    payload["user_id"] = Customer.objects.exclude(pk=payload["user_id"]).values_list("pk", flat=True)[0]


@pytest.mark.django_db
@pytest.mark.parametrize("change", [_other_quantity, _other_mode, _other_customer])
def test_the_same_key_with_a_different_request_is_refused_naming_the_header(
    client: Client, recorded: RecordingTransport, catalog: None, change: Callable[[dict[str, Any]], None]
) -> None:
    first = post(client, body(), "reused")
    other = body()
    change(other)

    response = post(client, other, "reused")

    assert response.status_code == 422, response.content
    error = only_error(response)
    assert error["loc"] == ["header", HEADER]
    assert error["type"] == "idempotency_key_reused"
    assert error["msg"] == "Idempotency-Key reused with a different request"
    assert [str(pk) for pk in Order.objects.values_list("pk", flat=True)] == [first.json()["id"]]


@pytest.mark.django_db
def test_different_keys_and_no_key_place_separate_orders(
    client: Client, recorded: RecordingTransport, catalog: None
) -> None:
    ids = {
        post(client, body(), "a").json()["id"],
        post(client, body(), "b").json()["id"],
        post(client, body()).json()["id"],
        post(client, body()).json()["id"],
    }

    assert len(ids) == Order.objects.count() == 4
    assert IdempotencyKey.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("key", "error_type"),
    [
        pytest.param("", "string_too_short", id="empty"),
        pytest.param("k" * 201, "string_too_long", id="201 characters"),
        pytest.param(" padded", "string_pattern_mismatch", id="leading space"),
        pytest.param("padded ", "string_pattern_mismatch", id="trailing space"),
        pytest.param("tab\there", "string_pattern_mismatch", id="control character"),
        pytest.param("clé", "string_pattern_mismatch", id="not ASCII"),
    ],
)
def test_a_malformed_key_is_422_naming_the_header(
    client: Client, recorded: RecordingTransport, catalog: None, key: str, error_type: str
) -> None:
    response = post(client, body(), key)

    assert response.status_code == 422, response.content
    error = only_error(response)
    assert error["loc"] == ["header", HEADER]
    assert error["type"] == error_type
    assert not Order.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["k", "k" * 200, "550e8400-e29b-41d4-a716-446655440000", "a b~!{}"])
def test_keys_of_1_to_200_printable_characters_are_accepted(
    client: Client, recorded: RecordingTransport, catalog: None, key: str
) -> None:
    response = post(client, body(), key)

    assert response.status_code == 201, response.content
    assert IdempotencyKey.objects.get().key == key


@pytest.mark.django_db
def test_a_refused_request_stores_no_key_so_the_corrected_retry_places_the_order(
    client: Client, recorded: RecordingTransport, catalog: None
) -> None:
    refused = post(client, body(user_id=999_999), "fix-and-retry")
    assert refused.status_code == 422

    # The first request placed nothing, so the key is still free for a different body.
    retried = post(client, body(), "fix-and-retry")

    assert retried.status_code == 201, retried.content
    assert IdempotencyKey.objects.get().order_id == Order.objects.get().pk


@pytest.mark.django_db
def test_the_key_is_written_in_the_orders_transaction(
    recorded: RecordingTransport, catalog: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the key is written rolls the key back with the order."""

    class Broken:
        def placed(self, *args: Any, **kwargs: Any) -> None:
            assert IdempotencyKey.objects.filter(key="rolled-back").exists()  # written by now
            raise RuntimeError("the flow failed")

    monkeypatch.setattr(services, "flow_for", lambda mode: Broken())
    payload = body()
    lines = [LineRequest(**item) for item in payload["items"]]

    with pytest.raises(RuntimeError):
        place_order(customer_id=payload["user_id"], items=lines, mode="event", idempotency_key="rolled-back")

    assert not IdempotencyKey.objects.exists()
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_a_duplicate_that_loses_the_race_returns_the_winners_order_and_sends_nothing(
    recorded: RecordingTransport,
    catalog: None,
    django_capture_on_commit_callbacks: CaptureCallbacks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The race, made deterministic: the loser's look-up ran before the winner committed.

    Its insert of the key then fails on the unique constraint; its order, lines, event and
    messages roll back, and it answers with the winner's order.
    """
    payload = body()
    lines = [LineRequest(**item) for item in payload["items"]]
    with django_capture_on_commit_callbacks(execute=True):
        winner = place_order(customer_id=payload["user_id"], items=lines, mode="event", idempotency_key="race")
    sent = list(recorded.names)

    real_lookup = services._order_for_key
    lookups: list[Order | None] = []

    def looked_too_early(key: str, fingerprint: str) -> Order | None:
        found = None if not lookups else real_lookup(key, fingerprint)
        lookups.append(found)
        return found

    monkeypatch.setattr(services, "_order_for_key", looked_too_early)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        loser = place_order(customer_id=payload["user_id"], items=lines, mode="event", idempotency_key="race")

    assert lookups == [None, winner]  # missed it, lost on the constraint, then found it
    assert loser.pk == winner.pk
    assert Order.objects.count() == 1
    assert callbacks == []  # the rolled-back order's messages were never scheduled
    assert recorded.names == sent


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["command", "event"])
def test_two_concurrent_requests_with_one_key_place_exactly_one_order(
    recorded: RecordingTransport, catalog: None, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """Two threads, two connections, both past the look-up before either commits.

    A barrier after the look-up makes both miss each other, so the unique constraint settles it:
    on PostgreSQL the loser's insert waits on the winner's uncommitted key, then fails; on SQLite
    the loser waits for the single writer, then fails.
    """
    payload = body(mode=mode)
    both_looked = threading.Barrier(2, timeout=20)
    real_lookup = services._order_for_key
    first_lookup = threading.local()
    lookups: list[Order | None] = []

    def lookup_then_wait(key: str, fingerprint: str) -> Order | None:
        found = real_lookup(key, fingerprint)
        lookups.append(found)
        if not getattr(first_lookup, "done", False):
            first_lookup.done = True
            both_looked.wait()
        return found

    monkeypatch.setattr(services, "_order_for_key", lookup_then_wait)
    responses: list[Any] = []
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            responses.append(post(Client(), payload, "same-key-twice"))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert [r.status_code for r in responses] == [201, 201], [r.content for r in responses]
    assert responses[0].json() == responses[1].json()
    # Both missed the other at first; the loser looked again after losing on the constraint.
    assert len(lookups) == 3 and lookups[:2] == [None, None] and lookups[2] is not None
    assert Order.objects.count() == 1
    assert IdempotencyKey.objects.count() == 1
    expected = ["order.placed"] if mode == "event" else ["inventory.reserve", "fraud.check"]
    assert recorded.names == expected, f"{connection.vendor}: the loser's messages must roll back"
