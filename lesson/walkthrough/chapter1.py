"""Chapter 1: the same orders, placed in command mode and in event mode, traced from the log."""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape

from analytics.selectors import totals
from lesson.walkthrough import render
from lesson.walkthrough.context import Context
from lesson.walkthrough.scenarios import Run, Scenario, play, require_progress
from lesson.walkthrough.summary import PRODUCER, ModeSummary, email_counts, metrics_delta, summarize
from orders.models import Order

TITLE = "Commands vs events"
LEAD = (
    "A command tells one named service what to do. An event states a fact, once, for whoever subscribes. "
    "The same three orders go through each mode; every row below is read back from the message log."
)

SCENARIOS = (
    Scenario("Ada", "a normal order", "ada@example.com", (("PROD-A", 2),)),
    Scenario("Mallory", "a risky order: high value, disposable e-mail", "mallory@mailinator.com", (("PROD-C", 1),)),
    Scenario("Grace", "more than the stock holds", "grace@example.com", (("PROD-E", 2),)),
)

HOW = {
    "command": "orders tells each service what to do (orders/flows/commanding.py)",
    "event": "orders states what happened, once, to the exchange (orders/flows/eventing.py)",
}


def run(ctx: Context) -> None:
    summaries = []
    for mode in ctx.modes:
        ctx.reset_catalog()  # same stock for every mode and every run of the walkthrough
        render.mode_heading(ctx.console, mode, HOW[mode])
        before = totals()
        runs = []
        for scenario in SCENARIOS:
            ctx.console.print(f"\n[bold]{escape(scenario.title)}[/bold]: {escape(scenario.about)}")
            runs.append(play(scenario, mode, timeout=ctx.settle_timeout))
            render.show_run(ctx.console, runs[-1])
            require_progress(runs[-1], ctx)
            ctx.pause()
        summary = summarize(
            mode, runs, emails=email_counts([r.order.id for r in runs]), metrics=metrics_delta(before, totals())
        )
        summaries.append((summary, runs))
    ctx.console.print()
    ctx.console.print(render.comparison_table([s for s, _ in summaries]))
    render.notes(ctx.console, insights(summaries))


def insights(summaries: Sequence[tuple[ModeSummary, list[Run]]]) -> list[str]:
    points = []
    for summary, runs in summaries:
        sent = sum(n for _, n in summary.sent_by_producer)
        named = sorted({service for _, service in summary.addressed})
        who = f"named {len(named)} consumers ({', '.join(named)})" if named else "named no consumer"
        points.append(f"[b]{summary.mode} mode[/b]: {PRODUCER} sent {sent} messages for {len(runs)} orders and {who}.")
        fanout = _fanout(runs)
        if fanout:
            points.append(f"[b]{summary.mode} mode[/b]: published once, handled by each subscriber: {fanout}.")
        back = _came_back(runs)
        if back:
            points.append(f"[b]{summary.mode} mode[/b]: what came back to {PRODUCER}: {back}.")
    if len(summaries) > 1:
        states = {s.mode: s.end_state for s, _ in summaries}
        first = next(iter(states.values()))
        if all(state == first for state in states.values()):
            points.append("Both modes reach the same end state: " + ", ".join(f"{t} {st}" for t, st in first) + ".")
        else:
            points.append("The modes ended differently: " + "; ".join(f"{m}: {s}" for m, s in states.items()) + ".")
    held = [run.order for _, runs in summaries for run in runs if run.order.status == Order.Status.ON_HOLD]
    if held:
        points.append(
            f"{len(held)} held order{'s' if len(held) != 1 else ''}: stock and payment secured, but not confirmed, "
            "e-mailed or counted until staff decide. Release or reject in the admin (Orders, the actions menu) or "
            "with POST /api/orders/<id>/release or /reject as a staff user."
        )
    return points


def _fanout(runs: Sequence[Run]) -> str:
    """Events the producer published once that more than one service handled."""
    handlers: dict[str, set[str]] = {}
    for run in runs:
        for step in run.steps:
            if step.sender == PRODUCER and step.kind == "event" and len(step.handlers) > 1:
                handlers.setdefault(step.name, set()).update(step.handlers)
    return "; ".join(f"{name} → {', '.join(sorted(who))}" for name, who in handlers.items())


def _came_back(runs: Sequence[Run]) -> str:
    """Messages from other services that the producer handled: replies or subscribed facts."""
    names: dict[str, str] = {}
    for run in runs:
        for step in run.steps:
            if step.sender not in (None, PRODUCER) and PRODUCER in step.handlers:
                names.setdefault(step.name, step.kind)
    return ", ".join(f"{name} ({kind})" for name, kind in names.items())
