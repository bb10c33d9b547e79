"""What the composition root plugs into the kernel: the buses in use, and three hooks.

The kernel names no transport, no Celery app and no operations code. ``messaging/bootstrap.py``
(called by ``shop/celery.py``) builds the buses on a transport and installs them here, with:

- ``before_handling``: runs before each handler (the fault tier's injected failures); a
  ``Guard`` there is run only when its probe, asked in the inbox check's statement, says yes;
- ``after_dead_letter``: runs once a dead letter is committed (RabbitMQ's copy to the
  ``dead-letters`` exchange);
- ``on_command_handler``: runs for each command handler registered (Celery makes it a task).

Tests swap the buses with ``bootstrap.configure(transport=...)`` instead of patching modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.rows import Exists
from messaging.kernel.bus import CommandBus, EventBus
from messaging.kernel.envelope import Envelope
from messaging.kernel.outbound import Outbound
from messaging.kernel.retry import RetryPolicy

#: A command handler returns the result its sender gets in the reply, or None.
CommandHandler = Callable[[Envelope, Any], dict[str, Any] | None]
#: Runs before a handler, outside its transaction (why: messaging/kernel/subscriptions.py).
Before = Callable[[Envelope, Any], None]


@dataclass(frozen=True)
class Bus:
    commands: CommandBus
    events: EventBus
    outbound: Outbound


@dataclass(frozen=True)
class CommandRegistration:
    """One command's one handler, as ``subscriptions.command_handler`` registered it."""

    name: str
    service: str
    handler: CommandHandler
    retry: RetryPolicy
    before: Before | None = None


@dataclass(frozen=True)
class Guard:
    """A ``before_handling`` hook that has nothing to do unless ``probe(service, message_type)``
    finds a row. The kernel asks the probe in the same statement as the inbox check, so a
    message for which it finds nothing costs no round trip of its own (the fault check: armed
    almost never). Called directly, it asks the probe itself."""

    probe: Exists
    hook: Callable[[str, str], None]

    def __call__(self, service: str, message_type: str) -> None:
        if self.probe(service, message_type):
            self.hook(service, message_type)


_bus: Bus | None = None
_default: Callable[[], Bus] | None = None

#: ``hook(service, message_type)`` before each handler runs; may raise to fail the attempt.
before_handling: list[Callable[[str, str], None] | Guard] = []
#: ``hook(dead_letter)`` after a dead letter's row is committed; must not raise.
after_dead_letter: list[Callable[[Any], None]] = []
_command_hooks: list[Callable[[CommandRegistration], None]] = []
_commands: list[CommandRegistration] = []


def bus() -> Bus:
    """The buses in use; built by the installed default the first time they are asked for."""
    global _bus
    if _bus is None:
        if _default is None:
            raise RuntimeError("no buses installed: messaging.bootstrap.install() (shop/celery.py) wires them")
        _bus = _default()
    return _bus


def use(new: Bus) -> Bus:
    global _bus
    _bus = new
    return new


def install_default(factory: Callable[[], Bus]) -> None:
    global _default
    _default = factory


def on_command_handler(hook: Callable[[CommandRegistration], None]) -> None:
    """Call ``hook`` for every command handler, those registered already and those to come."""
    _command_hooks.append(hook)
    for registration in list(_commands):
        hook(registration)


def command_handler_registered(registration: CommandRegistration) -> None:
    _commands.append(registration)
    for hook in list(_command_hooks):
        hook(registration)
