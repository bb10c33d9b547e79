"""Command mode's saga orchestrator: the machinery, not the plan.

The plan, which commands in which order and what undoes each, is a table of ``Step`` rows
(``orders.flows.commanding.FULFILMENT``). This module walks any such table: it sends a step's
command with a return address, advances on the reply, and on a failure, a timeout or a
cancellation sends the undo of every step that took effect, newest first. The state lives in
the ``Saga`` row, written in the same transaction as the reply's inbox entry, so a worker that
dies mid-saga loses nothing: the reply is redelivered and whichever worker gets it carries on.

Event mode has no counterpart: each service reacts to the previous service's event and nobody
holds the plan (compare orders/handlers.py, inventory/handlers.py and payments/handlers.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.utils import timezone

from contracts.replies import CommandOutcome
from core.rows import Select
from messaging.kernel.envelope import Envelope
from messaging.kernel.wiring import bus
from orders.models import Order, Saga
from orders.payloads import order_ref

PRODUCER = "orders"
#: The step a saga waits at when its remote steps are done but the order is held or not judged
#: by fraud yet (orders/review.py): not a command, a person's (or fraud's) answer.
REVIEW = "review"
#: The reply every step's command comes back as, success or failure (contracts/replies.py).
REPLY = "orders.advance_saga"


#: The saga row, locked (after the order's, which every caller holds): each reply reads it, so
#: it is SQL built once rather than compiled per call (core/rows.py says why).
_select_locked = Select(Saga, "order", for_update=True)


def _locked(order: Order) -> Saga | None:
    saga: Saga | None = _select_locked(order.pk)
    return saga


@dataclass(frozen=True)
class Step:
    """One remote step: the command that does it, the command that undoes it, and where the
    outcome comes back (the orchestrator's own reply command, named in each row so the plan
    shows that orders owns every step's failure)."""

    name: str
    command: str
    payload: Callable[[Order], dict[str, Any]]
    undo: str
    on_success: str = REPLY
    on_failure: str = REPLY
    #: Where an undo's failure goes: it cannot be undone in turn, so orders only notes it.
    undo_on_failure: str = "orders.note_failure"


def start(order: Order, plan: Sequence[Step]) -> Saga:
    """Create the saga row and send the first step (inside the order's transaction)."""
    assert order.confirm_by is not None, "the deadline is armed before the saga starts"
    first = plan[0]
    saga = Saga(order=order, current_step=first.name, deadline=order.confirm_by)
    _note(saga, first.name, "sent", first.command)
    saga.save()
    _send(first, order, cause=None)
    return saga


class Next(StrEnum):
    """What the caller must do after a reply: nothing more, cancel the order, or confirm it."""

    WAIT = "wait"
    FAILED = "failed"
    CONFIRM = "confirm"


def advance(order: Order, outcome: CommandOutcome, plan: Sequence[Step], *, cause: Envelope) -> tuple[Next, str]:
    """Apply one step's reply. The caller holds the order's row lock and its transaction.

    A reply for a step the saga is not waiting on (a late answer after a timeout, a duplicate)
    changes nothing but the history: the compensation already covers that step.
    """
    saga = _locked(order)
    if saga is None:
        raise Saga.DoesNotExist(f"no saga for order {order.pk}")
    step = _find(plan, saga.current_step)
    if saga.state != Saga.State.RUNNING or step is None or step.command != outcome.command:
        _note(saga, outcome.command, "ignored", f"saga is {saga.state}, waiting on {saga.current_step or 'nothing'}")
        saga.save()
        return Next.WAIT, f"late reply to {outcome.command} ignored"
    if not outcome.ok:
        saga.failure = outcome.error or f"{step.command} failed"
        _note(saga, step.name, "failed", saga.failure)
        saga.save()
        return Next.FAILED, saga.failure
    saga.steps_done = [*saga.steps_done, step.name]
    _note(saga, step.name, "done", "")
    following = plan[plan.index(step) + 1 :]
    if not following:
        saga.save()
        return Next.CONFIRM, f"{step.name} done"
    saga.current_step = following[0].name
    _note(saga, following[0].name, "sent", following[0].command)
    saga.save()
    _send(following[0], order, cause=cause)
    return Next.WAIT, f"{step.name} done; {following[0].name} sent"


def complete(order: Order, local_steps: Sequence[str]) -> None:
    """The remote steps are done and orders ran its own (confirm, send the confirmation)."""
    saga = _locked(order)
    if saga is None or saga.state != Saga.State.RUNNING:
        return
    for name in local_steps:
        _note(saga, name, "done", "")
    saga.steps_done = [*saga.steps_done, *local_steps]
    saga.state, saga.current_step = Saga.State.COMPLETED, ""
    saga.save()


def compensate(
    order: Order,
    plan: Sequence[Step],
    *,
    reason: str,
    cause: Envelope | None,
    in_flight: bool,
    final: Saga.State = Saga.State.COMPENSATED,
) -> list[str]:
    """Undo every step that took effect, newest first, then record the order's own undo.

    ``in_flight``: also undo the step the saga is waiting on. After a timeout or a
    cancellation that step may still take effect, so its undo is sent now; the services make
    an undo that arrives first refuse the late do (a released reservation, a voided payment).
    After a reported failure the step did nothing (each is all-or-nothing), so it is not undone.
    Returns the undo commands sent.
    """
    saga = _locked(order)
    if saga is None:
        # No record of what ran (an order from before sagas): undo every step; each undo is
        # idempotent and harmless for a step that never took effect.
        undone = list(reversed(plan))
    elif saga.state in {Saga.State.COMPENSATED, Saga.State.CANCELLED}:
        return []
    else:
        took_effect = set(saga.steps_done)
        if in_flight and saga.state == Saga.State.RUNNING:
            took_effect.add(saga.current_step)
        undone = [step for step in reversed(plan) if step.name in took_effect]
    for step in undone:
        bus().commands.send(
            step.undo,
            order_ref(order),
            producer=PRODUCER,
            correlation_id=str(order.id),
            caused_by=cause,
            on_failure=step.undo_on_failure,
        )
    if saga is not None:
        for step in undone:
            _note(saga, step.name, "undo sent", step.undo)
        _note(saga, "cancel_order", "done", reason)
        _note(saga, "notify_customer", "sent", "cancellation e-mail")
        saga.compensating, saga.state, saga.current_step = True, final, ""
        saga.failure = saga.failure or reason
        saga.compensations = [*saga.compensations, *(s.undo for s in undone), "cancel_order", "notify_customer"]
        saga.save()
    return [step.undo for step in undone]


def wait_for_review(order: Order, detail: str) -> None:
    """The remote steps are done; confirmation waits for fraud's verdict or a person."""
    saga = _locked(order)
    if saga is None or saga.state != Saga.State.RUNNING:
        return
    saga.current_step = REVIEW
    _note(saga, REVIEW, "waiting", detail)
    saga.save()


def note(order: Order, step: str, outcome: str, detail: str) -> None:
    """Add a line to the saga's history (a hold, a person's decision) without moving it."""
    saga = _locked(order)
    if saga is not None:
        _note(saga, step, outcome, detail)
        saga.save()


def stuck(saga: Saga) -> bool:
    """Running past its deadline: the timer should have ended it. Shown in the admin. A saga
    waiting at its review step is not stuck: a person may take as long as needed."""
    return saga.state == Saga.State.RUNNING and saga.current_step != REVIEW and saga.deadline < timezone.now()


def _send(step: Step, order: Order, *, cause: Envelope | None) -> None:
    bus().commands.send(
        step.command,
        step.payload(order),
        producer=PRODUCER,
        correlation_id=str(order.id),
        caused_by=cause,
        on_success=step.on_success,
        on_failure=step.on_failure,
    )


def _find(plan: Sequence[Step], name: str) -> Step | None:
    return next((step for step in plan if step.name == name), None)


def _note(saga: Saga, step: str, outcome: str, detail: str) -> None:
    entry = {"at": timezone.now().isoformat(), "step": step, "outcome": outcome, "detail": detail[:300]}
    saga.history = [*saga.history, entry]
