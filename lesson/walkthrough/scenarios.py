"""Placing the walkthrough's orders and waiting until the messages they caused have settled."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from catalog.models import Customer, Product
from core.models import MessageLog
from core.trace import Step, build_trace, pending
from lesson.walkthrough.context import Context, WalkthroughError, display_url
from messaging.kernel.subscriptions import table
from orders.models import Order
from orders.services import LineRequest, place_order


@dataclass(frozen=True)
class Scenario:
    """An order to place: who buys what (by e-mail and SKU, as ``seed_catalog`` loads them)."""

    title: str  # short, e.g. the customer's first name
    about: str  # what makes this order interesting
    email: str
    items: tuple[tuple[str, int], ...]


@dataclass
class Run:
    """One scenario placed in one mode, and what the log and the database say happened."""

    scenario: Scenario
    mode: str
    order: Order
    steps: list[Step] = field(default_factory=list)
    waited_s: float = 0.0
    timed_out: bool = False
    waiting_for: list[str] = field(default_factory=list)


def place(scenario: Scenario, mode: str) -> Order:
    customer = Customer.objects.get(email=scenario.email)
    skus = {p.sku: p.pk for p in Product.objects.filter(sku__in=[sku for sku, _ in scenario.items])}
    missing = sorted({sku for sku, _ in scenario.items} - set(skus))
    if missing:
        raise LookupError(f"products {missing} are missing: run `python manage.py seed_catalog`")
    return place_order(
        customer_id=customer.pk, items=[LineRequest(skus[sku], qty) for sku, qty in scenario.items], mode=mode
    )


def log_rows(order: Order) -> list[MessageLog]:
    return list(MessageLog.objects.filter(correlation_id=str(order.id)).order_by("created_at", "id"))


def settle(run: Run, *, quiet: float = 0.5, timeout: float = 20.0, poll: float = 0.05) -> Run:
    """Poll the log until every message has been handled and nothing new appeared for ``quiet``
    seconds, or ``timeout`` passed. Fills in the run's trace and final order state."""
    started = time.monotonic()
    subscribers = table()
    last_count, last_change = -1, started
    while True:
        rows = log_rows(run.order)
        now = time.monotonic()
        if len(rows) != last_count:
            last_count, last_change = len(rows), now
        run.steps = build_trace(rows, start=run.order.placed_at)
        run.waiting_for = pending(run.steps, subscribers)
        if not run.waiting_for and now - last_change >= quiet:
            break
        if now - started >= timeout:
            run.timed_out = True
            break
        time.sleep(poll)
    run.waited_s = time.monotonic() - started
    run.order.refresh_from_db()
    return run


def play(scenario: Scenario, mode: str, *, timeout: float = 20.0) -> Run:
    return settle(Run(scenario, mode, place(scenario, mode)), timeout=timeout)


def require_progress(run: Run, ctx: Context) -> None:
    """Stop when nothing at all handled the order's messages: no service is consuming."""
    if run.timed_out and not any(step.deliveries for step in run.steps):
        where = "the in-process worker threads" if ctx.embedded else "the workers of `make run`"
        raise WalkthroughError(
            f"no service handled any message for order {run.order.id} in {run.waited_s:.0f} s: "
            f"check that {where} are running against {display_url(ctx.broker_url)} with the same DATABASE_URL"
        )
