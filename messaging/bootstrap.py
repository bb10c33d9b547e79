"""The composition root: the one place that wires the buses to a transport.

Application code asks for ``bus()``; tests call ``configure(transport=...)`` to swap in a fake
instead of patching modules (cosmicpython's bootstrap.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from messaging.celery_adapter.transport import CeleryTransport, Transport
from messaging.kernel.bus import CommandBus, EventBus
from messaging.kernel.outbound import DISPATCHERS, Outbound
from messaging.operations import chaos


@dataclass(frozen=True)
class Bus:
    commands: CommandBus
    events: EventBus
    outbound: Outbound


_bus: Bus | None = None


def configure(transport: Transport | None = None, *, dispatch: str = "outbox") -> Bus:
    """Wire the buses. ``dispatch`` picks how messages leave: "outbox" (always, in the app),
    or "on_commit" / "immediate", which exist to be compared with it."""
    global _bus
    if transport is None:
        from shop.celery import app

        transport = CeleryTransport(app)
    # SHOP_CHAOS=duplicate-shuffle (fault tests, walkthrough): every message delivered twice,
    # shuffled (messaging/operations/chaos.py). Read here so it reaches every process.
    transport = chaos.wrap(transport)
    outbound: Outbound = DISPATCHERS[dispatch](transport)
    _bus = Bus(commands=CommandBus(outbound), events=EventBus(outbound), outbound=outbound)
    return _bus


def bus() -> Bus:
    return _bus if _bus is not None else configure()
