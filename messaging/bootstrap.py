"""The composition root: the one place that wires the kernel to Celery and to the operations.

The messaging app's ``ready()`` calls ``install()`` once Django's apps are loaded: it puts the
event consumer step on the Celery app ``shop/celery.py`` created, makes every command handler a
Celery task, installs the kernel's hooks (fault injection, the dead-letter copy on RabbitMQ) and
the default buses, built on the first ``bus()``. Tests call ``configure(transport=...)`` to swap
in a fake instead of patching modules (cosmicpython's bootstrap.py).
"""

from __future__ import annotations

from collections.abc import Callable

from messaging.celery_adapter import current
from messaging.celery_adapter.transport import CeleryTransport
from messaging.celery_adapter.worker import EventConsumerStep, define_task
from messaging.kernel import wiring
from messaging.kernel.bus import CommandBus, EventBus
from messaging.kernel.outbound import ImmediateDispatch, OnCommitDispatch, Outbound, OutboxDispatch, Transport
from messaging.kernel.wiring import Bus, bus
from messaging.operations import chaos, deadletters, faults
from messaging.operations.relay import Relay

__all__ = ["Bus", "bus", "configure", "install"]


def outbox(transport: Transport) -> OutboxDispatch:
    """The outbox, with the relay's fast path unless chaos asks every message to wait for the
    sweeper (SHOP_CHAOS, messaging/operations/chaos.py)."""
    return OutboxDispatch(transport, Relay(transport), fast_path=chaos.fast_path_enabled())


DISPATCHERS: dict[str, Callable[[Transport], Outbound]] = {
    "outbox": outbox,
    "on_commit": OnCommitDispatch,
    "immediate": ImmediateDispatch,
}


def configure(transport: Transport | None = None, *, dispatch: str = "outbox") -> Bus:
    """Wire the buses. ``dispatch`` picks how messages leave: "outbox" (always, in the app),
    or "on_commit" / "immediate", which exist to be compared with it."""
    if transport is None:
        transport = CeleryTransport(current.app())
    # SHOP_CHAOS=duplicate-shuffle (fault tests, walkthrough): every message delivered twice,
    # shuffled (messaging/operations/chaos.py). Read here so it reaches every process.
    transport = chaos.wrap(transport)
    outbound = DISPATCHERS[dispatch](transport)
    return wiring.use(Bus(commands=CommandBus(outbound), events=EventBus(outbound), outbound=outbound))


def install() -> None:
    """Wire everything, once per process (the messaging app's ``ready()``)."""
    current.app().steps["consumer"].add(EventConsumerStep)
    wiring.on_command_handler(define_task)
    wiring.before_handling.append(faults.GUARD)
    wiring.after_dead_letter.append(deadletters.mirror_dead_letter)
    wiring.install_default(configure)
