"""What a fault run must show once it settled: no order lost, no effect applied twice.

``check`` compares the database with what N confirmed orders must have produced, exactly once
each (the reservation, the stock taken, revenue and items sold, one confirmation email, the
payment authorized; in event mode also each order's event stream and a read model equal to a
fresh rebuild), and returns one ``Row`` of the session's table (tests/faults/report.py). It is
kept apart from placing the orders (tests/faults/run.py) and waiting for them
(tests/faults/settling.py) because it is the tier's definition of "nothing lost": every kind of
run, broker faults and database faults alike, is held to it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from analytics.models import MetricRecord
from analytics.selectors import totals
from catalog.models import Product
from core.models import DeadLetter, EventRecord, MessageLog, OutboxMessage
from inventory.models import Reservation
from notifications.models import SentEmail
from orders.models import Order
from payments.models import Authorization
from readmodel.models import OrderSummary
from readmodel.selectors import lag
from readmodel.services import rebuild
from tests.faults.run import Catalog


@dataclass
class Row:
    fault: str
    mode: str
    broker: str
    orders: int
    lost: int
    double_applied: int
    dead_lettered: int
    duplicates_skipped: int
    redelivered: int
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def summaries() -> dict[str, tuple[Any, ...]]:
    return {
        str(row.order_id): (
            row.customer_name,
            row.item_count,
            row.total,
            row.currency,
            row.status,
            row.placed_at,
            row.shipped_at,
            row.flagged,
            row.risk_score,
        )
        for row in OrderSummary.objects.all()
    }


#: A confirmed event-mode order's stream: placed, fraud's verdict, confirmed, each once (and
#: order.authorized when the verdict came after the payment).
CONFIRMED_STREAM = {"order.placed", "order.risk_scored", "order.confirmed"}


def _whole_stream(stream_types: dict[str, set[str]], order_id: uuid.UUID) -> bool:
    return stream_types.get(str(order_id), set()) >= CONFIRMED_STREAM


def check(
    *, fault: str, mode: str, broker: str, order_ids: Sequence[uuid.UUID], catalog: Catalog, seconds: float
) -> Row:
    """What N confirmed orders must have produced, exactly once each."""
    n = len(order_ids)
    ids = set(order_ids)
    orders = Order.objects.filter(pk__in=ids)
    confirmed = set(orders.filter(status=Order.Status.CONFIRMED).values_list("pk", flat=True))
    problems: list[str] = []

    # Effects per order: reservation, revenue and items sold, one confirmation email.
    reservations = Counter(
        Reservation.objects.filter(status=Reservation.Status.RESERVED).values_list("order_id", flat=True)
    )
    reserved_qty = sum(
        int(item["quantity"])
        for items in Reservation.objects.filter(status=Reservation.Status.RESERVED).values_list("items", flat=True)
        for item in items
    )
    metrics = Counter(MetricRecord.objects.values_list("name", "order_id"))
    emails = Counter(SentEmail.objects.filter(template="order-confirmation").values_list("order_id", flat=True))
    authorized = set(
        Authorization.objects.filter(status=Authorization.Status.AUTHORIZED).values_list("order_id", flat=True)
    )
    cancellations = SentEmail.objects.filter(template="order-cancelled").count()
    stream_events: Counter[tuple[str, str]] = Counter(EventRecord.objects.values_list("stream_id", "type"))
    stream_types: dict[str, set[str]] = {}
    for stream_id, event_type in stream_events:
        stream_types.setdefault(stream_id, set()).add(event_type)
    summary_status = dict(OrderSummary.objects.values_list("order_id", "status"))

    lost_orders = {
        "missing": n - orders.count(),
        "not confirmed": n - len(confirmed),
        "no reservation": sum(1 for pk in ids if not reservations[pk]),
        "no revenue": sum(1 for pk in ids if not metrics[(MetricRecord.Name.REVENUE.value, pk)]),
        "no items sold": sum(1 for pk in ids if not metrics[(MetricRecord.Name.ITEMS_SOLD.value, pk)]),
        "no confirmation email": sum(1 for pk in ids if not emails[pk]),
        "no payment authorized": sum(1 for pk in ids if pk not in authorized),
    }
    if mode == "event":
        lost_orders["no summary confirmed"] = sum(1 for pk in ids if summary_status.get(pk) != "confirmed")
        lost_orders["event stream short"] = sum(1 for pk in ids if not _whole_stream(stream_types, pk))
    incomplete = {
        pk
        for pk in ids
        if pk not in confirmed
        or not reservations[pk]
        or not metrics[(MetricRecord.Name.REVENUE.value, pk)]
        or not emails[pk]
        or pk not in authorized
        or (mode == "event" and (summary_status.get(pk) != "confirmed" or not _whole_stream(stream_types, pk)))
    }

    product = Product.objects.get(pk=catalog.product_id)
    stock_drop = catalog.start_stock - product.stock
    revenue = totals()[MetricRecord.Name.REVENUE.value]
    items_sold = totals()[MetricRecord.Name.ITEMS_SOLD.value]
    confirmed_total = orders.filter(status=Order.Status.CONFIRMED).aggregate(s=Sum("total"))["s"] or Decimal("0")
    doubles = {
        "extra confirmation emails": sum(count - 1 for count in emails.values() if count > 1),
        "extra metric rows": sum(count - 1 for count in metrics.values() if count > 1),
        "extra reservations": sum(count - 1 for count in reservations.values() if count > 1),
        "stock taken beyond reservations": max(0, stock_drop - reserved_qty),
        "extra events in streams": sum(count - 1 for count in stream_events.values() if count > 1),
        "cancellation emails": cancellations,
    }

    if product.stock != catalog.start_stock - reserved_qty:
        problems.append(f"stock {product.stock} != start {catalog.start_stock} - reserved {reserved_qty}")
    if product.stock != catalog.start_stock - n * catalog.quantity:
        problems.append(f"stock {product.stock} != start {catalog.start_stock} - {n} × {catalog.quantity}")
    if revenue != confirmed_total:
        problems.append(f"revenue {revenue} != sum of confirmed orders' totals {confirmed_total}")
    if items_sold != Decimal(len(confirmed) * catalog.quantity):
        problems.append(f"items sold {items_sold} != {len(confirmed)} confirmed × {catalog.quantity}")
    if sum(emails.values()) != len(confirmed):
        problems.append(f"{sum(emails.values())} confirmation emails for {len(confirmed)} confirmed orders")

    read_model_equal: bool | None = None
    if mode == "event":
        lag_pending = lag()["pending_events"]
        live = summaries()
        report = rebuild()
        rebuilt = summaries()
        read_model_equal = live == rebuilt
        if lag_pending:
            problems.append(f"the projector is {lag_pending} events behind the store")
        if not read_model_equal:
            differing = sorted(k for k in live.keys() | rebuilt.keys() if live.get(k) != rebuilt.get(k))
            problems.append(
                f"read model differs from a fresh rebuild ({report.events} events) in {len(differing)} orders, "
                f"e.g. {differing[:3]}: live {[live.get(k) for k in differing[:1]]} "
                f"rebuilt {[rebuilt.get(k) for k in differing[:1]]}"
            )

    dead = DeadLetter.objects.count()
    lost = len(incomplete)
    double_applied = sum(doubles.values())
    if lost:
        problems.append(f"{lost} orders lost or incomplete: { {k: v for k, v in lost_orders.items() if v} }")
    if double_applied:
        problems.append(f"effects applied more than once: { {k: v for k, v in doubles.items() if v} }")
    if dead:
        reasons = Counter(DeadLetter.objects.values_list("consumer", "message_type", "reason"))
        problems.append(f"{dead} dead letters: {reasons.most_common(5)}")

    statuses = Counter(MessageLog.objects.values_list("status", flat=True))
    row = Row(
        fault=fault,
        mode=mode,
        broker=broker,
        orders=n,
        lost=lost,
        double_applied=double_applied,
        dead_lettered=dead,
        duplicates_skipped=statuses[MessageLog.Status.DUPLICATE],
        redelivered=redelivered(),
        seconds=round(seconds, 1),
        details={
            "start_stock": catalog.start_stock,
            "final_stock": product.stock,
            "reserved_quantity": reserved_qty,
            "revenue": str(revenue),
            "confirmed_total": str(confirmed_total),
            "confirmation_emails": sum(emails.values()),
            "read_model_equals_rebuild": read_model_equal,
            "message_log": dict(statuses),
            "lost_breakdown": lost_orders,
            "double_breakdown": doubles,
        },
        problems=problems,
    )
    return row


def redelivered() -> int:
    """Copies the relay re-sent to a consumer that never got a message (messaging/operations/redelivery.py)."""
    return int(OutboxMessage.objects.aggregate(n=Sum("redeliveries"))["n"] or 0)
