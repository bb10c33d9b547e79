"""The fault tier's machinery: the processes of one run, placing orders, waiting, checking.

One run = one stoppable broker (a RabbitMQ vhost of its own, or a private Redis that persists
every write; never the machine's shared brokers as such, since runs stop them), one worker
process per service from the Procfile, the outbox relay as its own process, and this process
placing orders through ``orders.services.place_order`` with the outbox (the default dispatch).

``settle`` waits, bounded, until nothing is left to happen; ``check`` then compares the effects
with what N orders must produce and returns one report row. Rows are collected in ``REPORT``,
written to ``var/fault-report.json`` after each run, and printed as a table at the end of the
session (tests/faults/conftest.py).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

import redis as redis_py
from django.db import connection
from django.db.models import Count, Sum
from kombu import Connection

from analytics.models import MetricRecord
from analytics.selectors import totals
from catalog.models import Customer, Product
from core.models import DeadLetter, EventRecord, MessageLog, OutboxMessage
from inventory.models import Reservation
from messaging.celery_adapter.settings import COMMAND_QUEUES
from messaging.celery_adapter.topology import service_queue_name
from messaging.kernel import subscriptions
from messaging.kernel.names import Kind
from messaging.operations.relay import pending
from notifications.models import SentEmail
from orders import services
from orders.models import Order
from payments.models import Authorization
from readmodel.models import OrderSummary
from readmodel.selectors import lag
from readmodel.services import rebuild
from tests.integration.workers import ROOT

#: Orders per run; lower it while developing (SHOP_FAULT_ORDERS=60). At 200 a run logs 2,600
#: (event mode) to 3,200 (command mode) sends and handlings, and the kill, the restart and the
#: outage each land while messages are in every state (queued, prefetched, mid-transaction).
#: Until 2026-12 it was 500: the same checks, at 2.5 times the time.
ORDERS = int(os.environ.get("SHOP_FAULT_ORDERS", "200"))
#: The bound on each wait for a run to settle, in seconds, counted from the last order placed.
#: A duplicate+shuffle run settles in 140-180 s on this 2-core machine when it is busy: 420 s
#: leaves room for a loaded CI machine while still bounding a run that is stuck.
SETTLE_TIMEOUT = float(os.environ.get("SHOP_FAULT_SETTLE_TIMEOUT", "420"))
#: The message log must not grow for this long (with nothing in flight) to count as settled: a
#: margin on top of the exact checks (every order final, outbox empty, every message handled by
#: each consumer it was for, the broker's queues empty).
QUIET = 1.0
#: Threads placing orders otherwise, each order on its own connection: the orders arrive
#: concurrently, as from several web processes, and a run spends its time on the fault.
PLACERS = 4

REPORT_PATH = ROOT / "var" / "fault-report.json"
REPORT: list[dict[str, Any]] = []

CUSTOMER = "ada@example.com"  # not flagged by fraud (fraud/scoring.py)
PRODUCT = "PROD-D"  # 4.50: QUANTITY of them stays far below the high-value and bulk rules
QUANTITY = 2


class Background(threading.Thread):
    """A fault injected while this process keeps placing orders; ``join`` re-raises its error."""

    def __init__(self, name: str, action: Callable[[], None]) -> None:
        super().__init__(name=name, daemon=True)
        self.action = action
        self.error: BaseException | None = None
        self.seconds = 0.0

    def run(self) -> None:
        started = time.monotonic()
        try:
            self.action()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread in join()
            self.error = exc
        finally:
            self.seconds = time.monotonic() - started

    def finish(self, timeout: float = 300) -> float:
        self.join(timeout)
        if self.is_alive():
            raise AssertionError(f"{self.name} did not finish in {timeout}s")
        if self.error is not None:
            raise AssertionError(f"{self.name} failed: {self.error!r}") from self.error
        return self.seconds


# --- Orders ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalog:
    customer_id: int
    product_id: int
    quantity: int
    start_stock: int


def prepare_catalog(orders: int, *, sku: str = PRODUCT, quantity: int = QUANTITY, stock: int | None = None) -> Catalog:
    """The customer, and the product with a known stock (enough for every order unless given)."""
    start = stock if stock is not None else orders * quantity + 100
    Product.objects.filter(sku=sku).update(stock=start)
    return Catalog(
        customer_id=Customer.objects.get(email=CUSTOMER).pk,
        product_id=Product.objects.get(sku=sku).pk,
        quantity=quantity,
        start_stock=start,
    )


def place_orders(count: int, *, mode: str, catalog: Catalog, threads: int = 1) -> list[uuid.UUID]:
    """Place ``count`` orders; with ``threads`` > 1, concurrently, one DB connection per order."""

    def one(_: int) -> uuid.UUID:
        try:
            items = [services.LineRequest(catalog.product_id, catalog.quantity)]
            return services.place_order(customer_id=catalog.customer_id, items=items, mode=mode).id
        finally:
            if threads > 1:
                connection.close()

    if threads <= 1:
        return [one(i) for i in range(count)]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="place") as pool:
        return list(pool.map(one, range(count)))


# --- Waiting until nothing is left to happen -------------------------------------------------


def in_flight(order_ids: Sequence[uuid.UUID] | None = None) -> Counter[str]:
    """Messages sent that a consumer has not finished with yet, as "name -> service" counts.

    A command is finished once its one handler logged it (handled, failed, duplicate, dead
    letter); an event once every service subscribing to it did. Events nobody subscribes to
    (inventory.released) are finished when sent. With ``order_ids``, only the messages those
    orders caused count: a database that also holds messages nobody will consume (the
    benchmarks' producer-cost phase) would otherwise never look settled.
    """
    table = subscriptions.table()
    log = MessageLog.objects.all()
    if order_ids is not None:
        log = log.filter(correlation_id__in=[str(pk) for pk in order_ids])
    done = set(log.exclude(status=MessageLog.Status.SENT).values_list("message_id", "service"))
    done_ids = {message_id for message_id, _ in done}
    waiting: Counter[str] = Counter()
    sent = log.filter(status=MessageLog.Status.SENT).values_list("message_id", "kind", "name")
    for message_id, kind, name in sent:
        if kind == Kind.COMMAND.value:
            if message_id not in done_ids:
                waiting[f"{name} (command)"] += 1
            continue
        for service in table.get(name, []):
            if (message_id, service) not in done:
                waiting[f"{name} -> {service}"] += 1
    return waiting


def queue_depths(url: str) -> dict[str, int]:
    """Messages the broker still holds: ready in each queue, and (Redis) delivered but unacked."""
    names = sorted(set(COMMAND_QUEUES.values())) + [service_queue_name(s) for s in subscriptions.services()]
    if url.startswith("redis"):
        client = redis_py.Redis.from_url(url)
        depths = {name: int(client.llen(name)) for name in names}
        depths["(unacked)"] = int(client.hlen("unacked"))
        return depths
    depths = {}
    with Connection(url, connect_timeout=5) as conn:
        channel: Any = conn.channel()  # an amqp channel; kombu's stubs only know StdChannel
        try:
            for name in names:
                depths[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
        finally:
            channel.close()
    return depths


@dataclass
class Snapshot:
    statuses: dict[str, int]
    outbox_pending: int
    waiting: Counter[str]
    log_rows: int
    queues: dict[str, int]
    broker_error: str = ""

    def done(self, final: set[str], expected: int) -> bool:
        return (
            sum(n for status, n in self.statuses.items() if status in final) == expected
            and not self.outbox_pending
            and not self.waiting
            and not self.broker_error
            and not any(self.queues.values())
        )

    def describe(self) -> str:
        busy = {name: n for name, n in self.queues.items() if n}
        return (
            f"orders by status: {self.statuses}\n"
            f"outbox pending: {self.outbox_pending}\n"
            f"in flight: {dict(self.waiting.most_common(12)) or 'nothing'}\n"
            f"message log rows: {self.log_rows}\n"
            f"broker still holds: {busy or 'nothing'}{' (' + self.broker_error + ')' if self.broker_error else ''}\n"
            f"dead letters: {DeadLetter.objects.count()}"
        )


def snapshot(order_ids: Sequence[uuid.UUID], url: str, *, only_these_orders: bool = False) -> Snapshot:
    statuses = dict(
        Order.objects.filter(pk__in=order_ids).values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    missing = len(order_ids) - sum(statuses.values())
    if missing:
        statuses["(missing)"] = missing
    try:
        queues, error = queue_depths(url), ""
    except Exception as exc:  # noqa: BLE001 - a broker still coming back is "not settled", not a crash
        queues, error = {}, f"{type(exc).__name__}: {exc}"
    waiting = in_flight(order_ids if only_these_orders else None)
    return Snapshot(statuses, pending(), waiting, MessageLog.objects.count(), queues, error)


def settle(
    order_ids: Sequence[uuid.UUID],
    *,
    url: str,
    final: set[str],
    label: str,
    timeout: float = SETTLE_TIMEOUT,
    diagnose: Callable[[], str] | None = None,
    quiet: float = QUIET,
    poll: float = 0.25,
    only_these_orders: bool = False,
) -> float:
    """Wait until every order is in a final state, the outbox is empty, every message sent was
    handled by each consumer it was for, the broker holds nothing, and the message log has not
    grown for ``quiet`` seconds. Bounded: fails with what was still outstanding. Returns seconds.
    (The benchmarks use it too, with a shorter quiet: bench/modes.py.)"""
    started = time.monotonic()
    deadline = started + timeout
    last_rows, quiet_since = -1, started
    while True:
        snap = snapshot(order_ids, url, only_these_orders=only_these_orders)
        now = time.monotonic()
        if snap.log_rows != last_rows:
            last_rows, quiet_since = snap.log_rows, now
        if snap.done(final, len(order_ids)) and now - quiet_since >= quiet:
            return now - started
        if now > deadline:
            raise AssertionError(
                f"[{label}] did not settle in {timeout:.0f}s:\n{snap.describe()}\n{diagnose() if diagnose else ''}"
            )
        time.sleep(poll)


# --- Checking the effects -------------------------------------------------------------------


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


def record(row: Row) -> None:
    """Keep the row for the session's table and rewrite var/fault-report.json with every row so far."""
    REPORT.append(asdict(row))
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text(json.dumps(REPORT, indent=2, default=str) + "\n")


def table(rows: Sequence[dict[str, Any]]) -> list[str]:
    headers = [
        "fault",
        "mode",
        "broker",
        "orders",
        "lost",
        "double-applied",
        "dead-lettered",
        "dups skipped",
        "redelivered",
        "s",
    ]
    keys = [
        "fault",
        "mode",
        "broker",
        "orders",
        "lost",
        "double_applied",
        "dead_lettered",
        "duplicates_skipped",
        "redelivered",
    ]
    body = [[str(row.get(k, "")) for k in keys] + [f"{row['seconds']:.1f}"] for row in rows]
    widths = [max(len(h), *(len(line[i]) for line in body)) for i, h in enumerate(headers)]

    def fmt(cells: Sequence[str]) -> str:
        return " | ".join(
            c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return [fmt(headers), "-+-".join("-" * w for w in widths), *(fmt(line) for line in body)]
