"""The comparison at the end of a chapter, computed from the runs' traces and the database."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from lesson.walkthrough.scenarios import Run
from notifications.models import SentEmail

#: The service whose coupling the lesson is about: the order service, the producer.
PRODUCER = "orders"


@dataclass
class ModeSummary:
    mode: str
    sent_by_producer: list[tuple[str, int]] = field(default_factory=list)  # (scenario title, count)
    producer_names: list[str] = field(default_factory=list)  # distinct message names it sent
    addressed: list[tuple[str, str]] = field(default_factory=list)  # (command, handling service)
    reached: list[str] = field(default_factory=list)  # services that handled the producer's messages
    total_messages: int = 0  # every message sent by anyone, replies and follow-up events included
    end_state: list[tuple[str, str]] = field(default_factory=list)  # (scenario title, order status)
    emails: dict[str, int] = field(default_factory=dict)  # template -> count
    metrics: dict[str, Decimal] = field(default_factory=dict)  # analytics totals added in this mode
    timeouts: int = 0


def summarize(
    mode: str, runs: Sequence[Run], *, emails: Mapping[str, int], metrics: Mapping[str, Decimal]
) -> ModeSummary:
    out = ModeSummary(mode, emails=dict(emails), metrics=dict(metrics))
    names: list[str] = []
    addressed: dict[str, set[str]] = {}
    reached: set[str] = set()
    for run in runs:
        own = [s for s in run.steps if s.sender == PRODUCER]
        out.sent_by_producer.append((run.scenario.title, len(own)))
        out.total_messages += sum(1 for s in run.steps if s.sender is not None)
        out.end_state.append((run.scenario.title, run.order.status))
        out.timeouts += int(run.timed_out)
        for step in own:
            if step.name not in names:
                names.append(step.name)
            reached.update(step.handlers)
            if step.kind == "command":
                addressed.setdefault(step.name, set()).update(step.handlers)
    out.producer_names = names
    out.addressed = [(name, ", ".join(sorted(who)) or "no reply yet") for name, who in addressed.items()]
    out.reached = sorted(reached)
    return out


def metrics_delta(before: Mapping[str, Decimal], after: Mapping[str, Decimal]) -> dict[str, Decimal]:
    return {name: after.get(name, Decimal("0")) - before.get(name, Decimal("0")) for name in after}


def email_counts(order_ids: Sequence[object]) -> dict[str, int]:
    templates = SentEmail.objects.filter(order_id__in=list(order_ids)).values_list("template", flat=True)
    return dict(sorted(Counter(templates).items()))
