"""Chapter 2: adding a consumer. Fraud detection is the lesson's new service.

What turning it on takes is read from the code (``lesson.evidence``), not written here: in command
mode the producer's own lines that name fraud (the ``fraud.check`` it sends and the reply handler
only fraud needs), in event mode the producer's lines for it (none) and what it takes instead
(fraud's app in ``INSTALLED_APPS``, which subscribes itself from its ``ready()``). Then Mallory's
risky order goes through each mode, and the log shows fraud handling it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.apps import apps
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from lesson.evidence import coupling, declarations
from lesson.evidence.model import SourceRef
from lesson.evidence.sources import REPO_ROOT, find_line
from lesson.evidence.tables import source_excerpt
from lesson.walkthrough import render
from lesson.walkthrough.context import Context
from lesson.walkthrough.scenarios import Run, Scenario, play, require_progress
from lesson.walkthrough.summary import PRODUCER
from messaging.kernel.subscriptions import table as subscriber_table

TITLE = "Adding a consumer"
LEAD = (
    "Fraud detection is the consumer the lesson adds. Command mode needs the producer to name it; event mode "
    "needs fraud to subscribe. Every line below is read from the code, then a risky order shows fraud at work."
)

CONSUMER = "fraud"
#: The line of the project's settings that installs fraud detection.
INSTALLED = '"fraud"'
SCENARIO = Scenario(
    "Mallory", "a risky order: high value, disposable e-mail", "mallory@mailinator.com", (("PROD-C", 1),)
)

HOW = {
    "command": "orders sends fraud.check to fraud's queue, and handles the reply",
    "event": "orders publishes order.placed; fraud listens on fraud.events",
}


@dataclass(frozen=True)
class Cost:
    """What turning the consumer on takes in one mode, read from the source."""

    mode: str
    producer: list[SourceRef]  # lines in the producer (orders) that exist for the consumer
    elsewhere: list[SourceRef]  # lines outside the producer that turn it on
    reactions: list[SourceRef]  # event mode: orders' handlers for facts the consumer publishes (optional)

    @property
    def producer_lines(self) -> int:
        return sum(ref.end_line - ref.line + 1 for ref in self.producer)


def costs(modes: Sequence[str]) -> list[Cost]:
    out = []
    for mode in modes:
        elsewhere: list[SourceRef] = []
        reactions: list[SourceRef] = []
        if mode == "command":
            route = find_line(
                REPO_ROOT, "messaging/celery_adapter/settings.py", '"fraud.check":', "routes fraud.check to its queue"
            )
            handlers = [h.ref for h in declarations.command_handlers() if h.service == CONSUMER]
            elsewhere = [r for r in (route, *handlers) if r]
        if mode == "event":
            reactions = coupling.reactions_to(CONSUMER)
            settings_line = find_line(REPO_ROOT, "shop/settings.py", INSTALLED, "installs fraud detection")
            subscriber = [s for s in declarations.subscribers() if s.service == CONSUMER]
            elsewhere = [r for r in (settings_line, *(x for s in subscriber for x in (s.ready, s.ref))) if r]
        out.append(Cost(mode, coupling.lines_for(CONSUMER, mode), elsewhere, reactions))
    return out


def run(ctx: Context) -> None:
    found = costs(ctx.modes)
    ctx.console.print(cost_table(found))
    for cost in found:
        show_lines(ctx.console, cost)
    if not apps.is_installed(CONSUMER):
        ctx.console.print(
            f"[bold yellow]{CONSUMER} is not in INSTALLED_APPS in this process, so no order is placed: "
            "command mode would send fraud.check to a queue nobody serves.[/bold yellow]"
        )
        return
    runs = []
    for mode in ctx.modes:
        ctx.reset_catalog()
        render.mode_heading(ctx.console, mode, HOW[mode])
        played = play(SCENARIO, mode, timeout=ctx.settle_timeout)
        render.show_run(ctx.console, played)
        require_progress(played, ctx)
        runs.append(played)
        ctx.pause()
    render.notes(ctx.console, insights(found, runs))


def cost_table(found: Sequence[Cost]) -> Table:
    table = Table(title=f"What turning {CONSUMER} on takes, read from the code", box=box.ROUNDED)
    table.add_column("", style="bold", no_wrap=True)
    for cost in found:
        table.add_column(f"{cost.mode} mode", style=render.MODE_STYLE.get(cost.mode, ""), ratio=1)
    table.add_row(
        f"lines in {PRODUCER} (the producer)",
        *[f"{c.producer_lines} lines in {len(c.producer)} places" if c.producer else "0 lines" for c in found],
    )
    table.add_row("where", *[escape(_places(c.producer) or "nowhere in orders") for c in found])
    table.add_row(
        f"{PRODUCER} reacting to what {CONSUMER} says",
        *[_reacting(c) for c in found],
    )
    table.add_row(
        "what else it takes",
        *[escape(_places(c.elsewhere) or "nothing") for c in found],
    )
    return table


def _reacting(cost: Cost) -> str:
    if cost.mode == "command":
        return "the reply handler, counted above"
    return escape(_places(cost.reactions) or "none")


def _places(refs: Sequence[SourceRef]) -> str:
    return "\n".join(f"{ref.location}: {ref.why}" for ref in refs)


def show_lines(console: Console, cost: Cost) -> None:
    """The cited lines themselves, numbered as in the file."""
    refs = cost.producer if cost.mode == "command" else cost.elsewhere
    for ref in refs:
        lines = source_excerpt(ref, context=0)
        code = "\n".join(text for _, text in lines)
        console.print(f"[{render.MODE_STYLE.get(cost.mode, 'white')}]{cost.mode} mode[/] · {escape(ref.location)}")
        console.print(Syntax(code, "python", line_numbers=True, start_line=lines[0][0], theme="ansi_dark"))


def handled_by_consumer(played: Run) -> list[str]:
    """What fraud did for the order, and what came back to orders because of it."""
    out = []
    for step in played.steps:
        for delivery in step.deliveries:
            if delivery.service == CONSUMER:
                out.append(f"{CONSUMER} handled {step.name} from {delivery.route}: {delivery.did}")
        if step.sender == CONSUMER and PRODUCER in step.handlers:
            out.append(f"{PRODUCER} handled {step.name} from {CONSUMER}")
    return out


def insights(found: Sequence[Cost], runs: Sequence[Run]) -> list[str]:
    points = []
    for cost in found:
        if cost.producer:
            points.append(
                f"[b]{cost.mode} mode[/b]: adding {CONSUMER} took {cost.producer_lines} lines of {PRODUCER}, in "
                f"{escape(', '.join(r.location for r in cost.producer))}; removing it means editing them again."
            )
        else:
            where = ", ".join(r.location for r in cost.elsewhere)
            points.append(
                f"[b]{cost.mode} mode[/b]: adding {CONSUMER} took 0 lines of {PRODUCER}, only "
                f"{escape(where)}. tests/unit/test_fraud_optional.py runs the same order without the settings "
                "line: it is confirmed, not held, from byte-identical orders files."
            )
            if cost.reactions:
                points.append(
                    f"[b]{cost.mode} mode[/b]: {PRODUCER} chose to react to {CONSUMER}'s fact "
                    f"({escape(', '.join(r.location for r in cost.reactions))}): it names the fact, not {CONSUMER}, "
                    f"and never runs without it. Orders' own decision, not a change {CONSUMER} required."
                )
    subscribers = subscriber_table().get("order.placed", [])
    if CONSUMER in subscribers:
        points.append(f"order.placed reaches {', '.join(subscribers)}: {CONSUMER} is there because it subscribed.")
    for played in runs:
        did = "; ".join(handled_by_consumer(played)) or f"{CONSUMER} did not handle it"
        points.append(f"[b]{played.mode} mode[/b]: {escape(did)}. The order ended {played.order.status}.")
    return points
