"""Measurements for the CQRS chapter: what a dashboard query costs on each side, holding the
outbox back so the read model's lag can be seen, and a snapshot to compare rebuilds with."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, QuerySet
from django.test.utils import CaptureQueriesContext

from messaging import bootstrap
from messaging.kernel.outbound import OutboxDispatch, OutboxRelay
from orders.models import FlowMode, Order
from readmodel.models import OrderSummary
from readmodel.selectors import dashboard

#: Rows a dashboard page shows.
PAGE = 20

_TABLE = re.compile(r'\b(?:FROM|JOIN)\s+"?(\w+)"?', re.IGNORECASE)


@dataclass(frozen=True)
class QueryCost:
    """What one way of reading the dashboard sent to the database, captured, not estimated."""

    source: str
    rows: int
    queries: int
    joins: int
    tables: tuple[str, ...]


def write_side_dashboard() -> QuerySet[Order]:
    """The dashboard without a read model: the write model's normalized tables, joined per read
    (the customer's name lives in catalog, the item count in the order lines)."""
    return (
        Order.objects.filter(mode=FlowMode.EVENT)
        .select_related("customer")
        .annotate(line_count=Count("lines"))
        .order_by("-placed_at")
    )


def cost(source: str, read: Callable[[], Iterable[Any]]) -> QueryCost:
    with CaptureQueriesContext(connection) as captured:
        rows = len(list(read()))
    sql = " ".join(q["sql"] for q in captured.captured_queries)
    return QueryCost(
        source=source,
        rows=rows,
        queries=len(captured.captured_queries),
        joins=len(re.findall(r"\bJOIN\b", sql, re.IGNORECASE)),
        tables=tuple(dict.fromkeys(_TABLE.findall(sql))),
    )


def dashboard_costs() -> list[QueryCost]:
    return [
        cost("read model: readmodel.selectors.dashboard()", lambda: dashboard()[:PAGE]),
        cost("write model: orders joined to customers and lines", lambda: write_side_dashboard()[:PAGE]),
    ]


@contextmanager
def outbox_held() -> Iterator[OutboxRelay]:
    """Wire the buses so messages wait in the outbox until the relay's sweep sends them (no fast
    path), as they do between two runs of the relay process. Yields the relay that will send them.

    Restores the default wiring on the way out, before anyone sweeps: the services that handle
    what is swept then send their own messages the normal way."""
    wired = bootstrap.configure()
    outbound = wired.outbound
    if not isinstance(outbound, OutboxDispatch):
        raise RuntimeError("the buses are not wired to the outbox")
    outbound.fast_path = False
    try:
        yield outbound.relay
    finally:
        bootstrap.configure()


def sweep_all(relay: OutboxRelay) -> int:
    """Publish everything pending; returns how many messages went out."""
    total = 0
    while sent := relay.sweep():
        total += sent
    return total


def snapshot() -> list[dict[str, Any]]:
    """Every order summary as plain values (without the row id, which a rebuild renumbers)."""
    fields = [f.name for f in OrderSummary._meta.concrete_fields if f.name != "id"]
    return list(OrderSummary.objects.order_by("order_id").values(*fields))
