"""Where a command goes follows from its name, by one rule, so that no list names every queue.

- A command's queue is its name: ``inventory.reserve`` is consumed from ``inventory.reserve``.
  In command mode the sender addresses its consumer by name, and the queue says so.
- A reply (or a timer a service sets for itself) is declared ``command(name, reply=True)``; it
  goes to ``<service>.replies``, the service being the name's first part: ``orders.advance_saga``
  to ``orders.replies``. One queue per producer keeps its replies in the order they came.

Adding a command consumer then touches its contract, its producer and its own app, never this.
"""

from __future__ import annotations

from messaging.kernel import contracts
from messaging.kernel.names import Kind

REPLIES = "replies"


def queue_for(name: str) -> str | None:
    """The queue of command ``name``; None for a name that is not a registered command."""
    contract = contracts.latest(name)
    if contract is None or contract.kind is not Kind.COMMAND:
        return None
    if contract.reply:
        return f"{name.split('.', 1)[0]}.{REPLIES}"
    return name


def command_queues() -> dict[str, str]:
    """Every registered command and its queue."""
    return {name: queue for name in contracts.names(Kind.COMMAND) if (queue := queue_for(name)) is not None}
