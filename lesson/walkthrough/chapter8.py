"""Chapter 8: the fulfilment as a saga, orchestrated (command mode) and choreographed (event mode).

Four orders go through each style: one that succeeds, and three that must be undone (no stock,
a declined card, a slow issuer that misses the deadline). The table compares what each style
left behind, read from the database; the second half is read from the code (lesson.evidence.sagas):
where each style writes the order of the steps down, and what two real patches that add a loyalty
step change (docs/sagas/).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from django.test.utils import override_settings
from rich import box
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from catalog.models import Customer, Product
from core.models import MessageLog
from inventory.models import Reservation
from lesson.evidence import sagas
from lesson.evidence.model import SourceRef
from lesson.evidence.tables import source_excerpt
from lesson.walkthrough import render
from lesson.walkthrough.context import Context
from lesson.walkthrough.scenarios import Run, Scenario, require_progress, settle
from messaging.operations.embedded_services import embedded_relay
from notifications.models import SentEmail
from orders.deadlines import TIMER
from orders.models import Order, Saga
from orders.services import LineRequest, place_order
from payments.models import Authorization

TITLE = "Sagas: orchestration vs choreography"
LEAD = (
    "Fulfilment takes several services and must be undone when one step fails. Command mode orchestrates it from "
    "one plan in orders; event mode choreographs it, each service reacting to the previous one's fact. The same "
    "four orders go through both; then the code shows where each style writes the steps down."
)

HOW = {
    "command": "orders walks FULFILMENT and sends each step, then the undo of each (orders/saga.py)",
    "event": "each service reacts to the previous fact; nobody holds the plan",
}
#: The timeout row: a 2 s deadline against a 4 s issuer, so the step answers after the deadline.
DEADLINE_S, SLOW_ISSUER_S = 2, 4
NO_SAGA = "no saga row: reconstructed from correlation id"


@dataclass(frozen=True)
class SagaScenario:
    name: str
    about: str
    email: str
    sku: str
    quantity: int  # 0: one more than the shelf holds
    token: str | None = None
    slow: bool = False  # the deadline row: short deadline, slow issuer, timers relayed


SCENARIOS = (
    SagaScenario("success", "two cups, a good card", "ada@example.com", "PROD-A", 2),
    SagaScenario("out of stock", "one more than the shelf holds", "grace@example.com", "PROD-E", 0),
    SagaScenario("payment declined", "a card token ending 0002", "ada@example.com", "PROD-A", 2, "tok_0002"),
    SagaScenario("timeout", "token ending 0003: a slow issuer", "ada@example.com", "PROD-A", 2, "tok_0003", slow=True),
)


@dataclass(frozen=True)
class Final:
    """What one scenario left behind in one style, read from each service's own tables."""

    scenario: str
    mode: str
    order: str
    stock_change: int
    authorization: str  # payments' row: authorized, voided, declined, or none
    reservation: str  # inventory's row: reserved, released, or none
    emails: tuple[str, ...]
    record: str  # the saga row (command mode), or the chain of facts (event mode)
    reason: str
    waited_s: float
    timer_s: float | None  # when orders handled its deadline's timer, from the order's placing

    @property
    def money_held(self) -> bool:
        return self.authorization == Authorization.Status.AUTHORIZED

    @property
    def stock_held(self) -> bool:
        return self.reservation == Reservation.Status.RESERVED

    @property
    def compared(self) -> tuple[object, ...]:
        """What both styles must agree on (the raw rows differ: command mode keeps no declined row)."""
        return self.order, self.stock_change, self.money_held, self.stock_held, self.emails


def run(ctx: Context) -> None:
    finals: list[Final] = []
    if not ctx.embedded:  # the override below reaches this process only: the deadline, not the issuer
        ctx.console.print(
            f"[dim]The timeout row expects the workers to run with SHOP_PAYMENT_SLOW_SECONDS={SLOW_ISSUER_S}.[/dim]"
        )
    for mode in ctx.modes:
        ctx.reset_catalog()  # the same shelves for each style
        render.mode_heading(ctx.console, mode, HOW[mode])
        for scenario in SCENARIOS:
            played, final = play(ctx, scenario, mode)
            ctx.console.print(render.order_panel(played))
            require_progress(played, ctx)
            finals.append(final)
            ctx.pause()
    ctx.console.print(outcome_table(finals))
    written, costs = sagas.where_written(), sagas.patch_costs()
    show_evidence(ctx, written, costs)
    render.notes(ctx.console, insights(finals, written, costs))


def play(ctx: Context, scenario: SagaScenario, mode: str) -> tuple[Run, Final]:
    product = Product.objects.get(sku=scenario.sku)
    before = product.stock
    quantity = scenario.quantity or before + 1
    customer = Customer.objects.get(email=scenario.email)
    with _staged(ctx, scenario):
        started = time.monotonic()
        items = [LineRequest(product.pk, quantity)]
        order = place_order(customer_id=customer.pk, items=items, mode=mode, payment_token=scenario.token)
        played = Run(Scenario(scenario.name, scenario.about, scenario.email, ((scenario.sku, quantity),)), mode, order)
        _wait_until_settled(order, timeout=ctx.settle_timeout)
        settle(played, timeout=ctx.settle_timeout)
        played.waited_s = time.monotonic() - started  # from the order, not from the log's last change
    product.refresh_from_db()
    return played, final_state(played, product.stock - before)


@contextmanager
def _staged(ctx: Context, scenario: SagaScenario) -> Iterator[None]:
    """The timeout row's settings, for this process (which sets the deadline) and the embedded
    workers (which read the issuer's latency at call time); and on the embedded default, the
    outbox sweeper that publishes the deadline's timer once it is due (``make run`` has its own)."""
    with ExitStack() as stack:
        if scenario.slow:
            stack.enter_context(
                override_settings(SHOP_SAGA_TIMEOUT=DEADLINE_S, SHOP_PAYMENT_SLOW_SECONDS=SLOW_ISSUER_S)
            )
            if ctx.embedded:
                stack.enter_context(embedded_relay(every=0.1))
        yield


def _wait_until_settled(order: Order, *, timeout: float, poll: float = 0.05) -> None:
    """Until the order is confirmed or cancelled: the log alone may look quiet while the timer waits."""
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        if Order.objects.filter(pk=order.pk, status__in=[Order.Status.CONFIRMED, Order.Status.CANCELLED]).exists():
            return
        time.sleep(poll)


def final_state(played: Run, stock_change: int) -> Final:
    order = played.order
    reservation = Reservation.objects.filter(order_id=order.id).first()
    authorization = Authorization.objects.filter(order_id=order.id).first()
    emails = tuple(sorted(SentEmail.objects.filter(order_id=order.id).values_list("template", flat=True)))
    held = (authorization.status if authorization else "none", reservation.status if reservation else "none")
    return Final(
        played.scenario.title,
        played.mode,
        order.status,
        stock_change,
        *held,
        emails,
        _record(played),
        order.cancel_reason,
        played.waited_s,
        timer_handled_after(order),
    )


def timer_handled_after(order: Order) -> float | None:
    """Seconds from placing the order to orders handling its deadline's timer; None if it never
    fired (the order settled in time and the timer was withdrawn)."""
    row = (
        MessageLog.objects.filter(correlation_id=str(order.id), name=TIMER, status=MessageLog.Status.HANDLED)
        .order_by("created_at")
        .first()
    )
    return None if row is None else (row.created_at - order.placed_at).total_seconds()


def _record(played: Run) -> str:
    saga = Saga.objects.filter(order=played.order).first()
    if saga is not None:
        undone = ", ".join(saga.compensations)
        return f"saga {saga.state}: " + (f"compensations {undone}" if undone else " → ".join(saga.steps_done))
    facts = [s.name for s in played.steps if s.kind == "event" and s.sender is not None]
    return f"{NO_SAGA}: " + " → ".join(dict.fromkeys(facts))


def outcome_table(finals: Sequence[Final]) -> Table:
    table = Table(title="What each style left behind, per scenario (read from each service's tables)", box=box.ROUNDED)
    for heading in ("scenario", "style", "order", "stock Δ", "money held", "stock held", "e-mails"):
        table.add_column(heading, no_wrap=True)
    table.add_column("how the saga is recorded", ratio=1)
    for final in sorted(finals, key=lambda f: ([s.name for s in SCENARIOS].index(f.scenario), f.mode)):
        style = render.MODE_STYLE.get(final.mode, "")
        table.add_row(
            final.scenario,
            f"[{style}]{sagas.STYLE[final.mode]}[/]",
            f"[{render.STATUS_STYLE.get(final.order, 'white')}]{final.order}[/]",
            f"{final.stock_change:+d}",
            f"{'yes' if final.money_held else 'no'} ({final.authorization})",
            f"{'yes' if final.stock_held else 'no'} ({final.reservation})",
            ", ".join(final.emails) or "none",
            escape(final.record),
        )
    return table


def show_evidence(ctx: Context, written: dict[str, sagas.Written], patches: Sequence[sagas.PatchCost]) -> None:
    """Where each style writes the steps down and what adding one costs, from the code."""
    costs = {c.mode: c for c in patches}
    table = Table(title="Where the order of the steps is written, read from the code", box=box.ROUNDED)
    table.add_column("", style="bold", no_wrap=True)
    for mode in ("command", "event"):
        table.add_column(f"{sagas.STYLE[mode]} ({mode} mode)", style=render.MODE_STYLE[mode], ratio=1)
    command, event = written["command"], written["event"]
    table.add_row("written in", _places(command.refs), _places(event.refs))
    table.add_row(
        "modules that know the order", f"{len(command.modules)}: {', '.join(command.modules)}", _modules(event)
    )
    steps = ", ".join(f"{s.name} (undo {s.undo})" for s in sagas.plan_steps())
    table.add_row("the undo", f"in the same rows: {steps}", _places([link.ref for link in sagas.undo_links()]))
    for label, cell in (
        ("loyalty step: the patch", lambda c: c.path),
        ("files touched", lambda c: f"{len(c.files)} ({len(c.files) - len(c.existing)} new)"),
        ("lines added / removed", lambda c: f"+{c.added} / -{c.removed}"),
        ("existing files changed", lambda c: ", ".join(c.existing)),
        ("of them, modules that knew the flow", lambda c: ", ".join(c.touched_flow_modules) or "none"),
    ):
        table.add_row(label, escape(cell(costs["command"])), escape(cell(costs["event"])))
    ctx.console.print(table)
    _show_lines(ctx, "command", command.refs)
    shown: set[str] = set()  # payments' two links decide in one helper: show its lines once
    for link in event.links:
        fresh = [ref for ref in (link.head, *link.cause_refs) if ref.location not in shown]
        shown.update(ref.location for ref in fresh)
        _show_lines(ctx, "event", fresh)


def _places(refs: Sequence[SourceRef]) -> str:
    return escape("\n".join(f"{ref.location}: {ref.why}" for ref in refs))


def _modules(written: sagas.Written) -> str:
    per = {m: sum(1 for link in written.links if link.module == m) for m in written.modules}
    return f"{len(written.modules)}: " + ", ".join(f"{m} ({n} link{'s' * (n > 1)})" for m, n in per.items())


def _show_lines(ctx: Context, mode: str, refs: Sequence[SourceRef]) -> None:
    """The cited lines themselves, numbered as in the file (as chapter 2 shows them)."""
    for ref in refs:
        lines = source_excerpt(ref, context=0)
        code = "\n".join(text for _, text in lines)
        ctx.console.print(
            f"[{render.MODE_STYLE[mode]}]{sagas.STYLE[mode]}[/] · {escape(ref.location)}: {escape(ref.why)}"
        )
        ctx.console.print(Syntax(code, "python", line_numbers=True, start_line=lines[0][0], theme="ansi_dark"))


def insights(finals: Sequence[Final], written: dict[str, sagas.Written], costs: Sequence[sagas.PatchCost]) -> list[str]:
    points = []
    by_scenario: dict[str, dict[str, Final]] = {}
    for final in finals:
        by_scenario.setdefault(final.scenario, {})[final.mode] = final
    for name, styles in by_scenario.items():
        if len(styles) == 2:
            same = styles["command"].compared == styles["event"].compared
            verdict = "end the same" if same else "[bold red]END DIFFERENTLY[/bold red]"
            points.append(f"{escape(name)}: both styles {verdict} (order, stock, money held, stock held, e-mails).")
    for final in (f for f in finals if f.scenario == "timeout"):
        fired = "never fired" if final.timer_s is None else f"was handled {final.timer_s:.1f} s after the order"
        if final.timer_s is not None and final.timer_s >= SLOW_ISSUER_S:
            fired = f"[bold red]{fired}, after the slow issuer had answered[/bold red]"
        points.append(
            f"timeout, {sagas.STYLE[final.mode]}: {escape(final.reason or 'not cancelled')}; the {DEADLINE_S} s "
            f"deadline's timer {fired}; money held: {'yes' if final.money_held else 'no'} ({final.authorization})."
        )
    command, event = written["command"], written["event"]
    points.append(
        f"The order of the steps is known by {len(command.modules)} module in orchestration and by "
        f"{len(event.modules)} modules in choreography ({len(event.links)} links, each event in → event out)."
    )
    for cost in costs:
        touched = ", ".join(cost.touched_flow_modules) or "none"
        points.append(
            f"Adding loyalty, {sagas.STYLE[cost.mode]}: {len(cost.files)} files, +{cost.added}/-{cost.removed} lines; "
            f"existing modules that knew the flow changed: {escape(touched)}."
        )
    return points
