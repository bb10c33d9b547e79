"""No card token at rest (contracts/cards.py), measured on the whole database.

Orders are placed with distinctive tokens, through the API (with an ``Idempotency-Key``, whose
fingerprint is stored) and through the service, in each mode; one is authorized, one declined,
one cancelled. Once every message has settled, every column of every table is read back and
none may hold a token, nor may the unauthenticated API answers about those orders. Only the
last four characters may appear anywhere.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from catalog.models import Customer, Product
from core.models import MessageLog
from orders.models import Order
from tests.integration.harness import Flow

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ADA = "ada@example.com"
#: Each token's middle is what must not be found; each ends in the test card's rule it needs.
TOKENS = {"tok_secretvalue9876": "9876", "tok_secretdecline0002": "0002", "tok_secretcancel4444": "4444"}
SECRETS = ("secretvalue", "secretdecline", "secretcancel", "tok_")


def rows_holding_a_token() -> list[str]:
    """``table.column`` for every value in the database that holds a token, any type, any table."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # names from the schema
            columns = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    text = (
                        bytes(value).decode("utf-8", "replace") if isinstance(value, bytes | memoryview) else str(value)
                    )
                    if any(secret in text for secret in SECRETS):
                        found.append(f"{table}.{column}: {text[:200]}")
    return found


def place_through_the_api(client: Client, mode: str, token: str) -> str:
    customer = Customer.objects.get(email=ADA).pk
    body: dict[str, Any] = {
        "user_id": customer,
        "items": [{"product_id": Product.objects.get(sku="PROD-A").pk, "quantity": 1}],
        "mode": mode,
        "payment_token": token,
    }
    response = client.post(
        "/api/orders", json.dumps(body), content_type="application/json", headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert response.status_code == 201, response.content
    order_id: str = response.json()["id"]
    return order_id


def test_no_token_is_stored_anywhere_nor_shown_by_the_api(flow: Flow, client: Client) -> None:
    authorized = place_through_the_api(client, flow.mode, "tok_secretvalue9876")
    declined = flow.place(ADA, ("PROD-A", 1), token="tok_secretdecline0002").id
    cancelled = flow.place(ADA, ("PROD-B", 1), token="tok_secretcancel4444").id
    flow.cancel(cancelled)
    orders = flow.settle_all([uuid.UUID(authorized), declined, cancelled])

    assert [o.status for o in orders] == [Order.Status.CONFIRMED, Order.Status.CANCELLED, Order.Status.CANCELLED]
    assert sorted(o.card_last4 for o in orders) == sorted(TOKENS.values())
    assert rows_holding_a_token() == []
    for order in orders:
        for path in (f"/api/orders/{order.id}", f"/api/orders/{order.id}/state"):
            response = client.get(path)
            assert response.status_code in {200, 409}, (path, response.content)  # 409: command mode keeps no stream
            assert not any(secret in response.content.decode() for secret in SECRETS), path
        detail = client.get(f"/api/orders/{order.id}").json()
        assert detail["card_last4"] == order.card_last4
        if flow.mode == "event":
            assert detail["history"]["events"][0]["data"]["card_last4"] == order.card_last4

    # The scan would have seen one: a token planted in a JSON column is found.
    MessageLog.objects.filter(message_id=MessageLog.objects.values("message_id")[:1]).update(
        outcome={"payment_token": "tok_secretvalue9876"}
    )
    assert rows_holding_a_token() and all(row.startswith("shop_messagelog.outcome:") for row in rows_holding_a_token())
