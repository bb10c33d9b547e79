"""Who handles what: subscribers to events (many per event) and command handlers (one per
command). Each service app fills this in from its own ``ready()`` or ``tasks.py``.

The order service never reads the event registry: it publishes and is done. Workers read it to
know which ``<service>.events`` queues to consume and which handler gets each event. A command
handler registered here becomes a Celery task through the hook the composition root installs
(``wiring.on_command_handler``): the services name no Celery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from messaging.kernel import contracts, wiring
from messaging.kernel.envelope import Envelope
from messaging.kernel.names import Kind
from messaging.kernel.retry import DEFAULT_RETRY, RetryPolicy
from messaging.kernel.wiring import Before, CommandRegistration

#: An event handler returns a short note of what it did (shown in the message log), or None.
Handler = Callable[[Envelope, Any], str | None]
#: ``Before`` runs before the handler, outside its transaction: a call to a slow outside system
#: whose answer the handler then records. A transaction must not stay open across such a wait
#: (on SQLite it would hold the one write lock; anywhere it holds row locks and a connection).
H = TypeVar("H", bound=Handler)
F = TypeVar("F", bound=Callable[..., Any])

#: command name -> service that handles it (exactly one: a command has one handler).
COMMAND_HANDLERS: dict[str, str] = {}


def command_handler(
    name: str, *, service: str, retry: RetryPolicy = DEFAULT_RETRY, before: Before | None = None
) -> Callable[[F], F]:
    """Register ``fn(envelope, command) -> result`` as the one handler of command ``name``.

    ``before(envelope, command)`` runs first, outside the handler's transaction (see ``Before``)."""

    def decorate(fn: F) -> F:
        if name in COMMAND_HANDLERS:
            if COMMAND_HANDLERS[name] != service:
                raise RuntimeError(
                    f"{name!r} already has a handler in {COMMAND_HANDLERS[name]!r}: one command, one handler"
                )
            return fn  # the same module imported again
        COMMAND_HANDLERS[name] = service
        wiring.command_handler_registered(CommandRegistration(name, service, fn, retry, before))
        return fn

    return decorate


@dataclass(frozen=True)
class Subscription:
    service: str
    event_type: str
    handler: Handler
    retry: RetryPolicy
    before: Before | None = None

    @property
    def handler_name(self) -> str:
        return f"{self.handler.__module__}.{self.handler.__qualname__}"


_by_service: dict[str, dict[str, list[Subscription]]] = {}


class Subscriber:
    """A service that listens to events on its own durable queue, ``<service>.events``."""

    def __init__(self, service: str) -> None:
        self.service = service
        _by_service.setdefault(service, {})

    def on(
        self, event_type: str, *, retry: RetryPolicy = DEFAULT_RETRY, before: Before | None = None
    ) -> Callable[[H], H]:
        contracts.require_kind(event_type, Kind.EVENT)

        def decorate(handler: H) -> H:
            subs = _by_service[self.service].setdefault(event_type, [])
            if not any(s.handler_name == f"{handler.__module__}.{handler.__qualname__}" for s in subs):
                subs.append(Subscription(self.service, event_type, handler, retry, before))
            return handler

        return decorate


def services() -> list[str]:
    return sorted(_by_service)


def subscriptions_for(service: str, event_type: str) -> list[Subscription]:
    return list(_by_service.get(service, {}).get(event_type, []))


def table() -> dict[str, list[str]]:
    """Event type -> subscribing services, for the walkthrough and tests."""
    out: dict[str, list[str]] = {}
    for service, by_type in _by_service.items():
        for event_type in by_type:
            out.setdefault(event_type, []).append(service)
    return {k: sorted(v) for k, v in sorted(out.items())}
