"""Failures injected on purpose (walkthrough chapter 3 and the failure-isolation tests)."""

from __future__ import annotations

import psycopg
from django.db import OperationalError, transaction
from django.db.models import F

from core.models import InjectedFault
from core.rows import Exists
from messaging.kernel.wiring import Guard

#: The check every message makes, as SQL built once (core/rows.py says why). The kernel asks it
#: in the inbox check's statement (``GUARD``, installed by messaging/bootstrap.py).
_any_armed = Exists(InjectedFault, "service", "message_type")


class InjectedFailure(RuntimeError):
    pass


def inject(
    service: str,
    message_type: str,
    *,
    times: int | None = None,
    error: str = "injected failure",
    database: bool = False,
) -> None:
    """Make ``service`` fail on ``message_type`` (``times`` times, or until cleared). With
    ``database``, it fails the way a terminated database connection does: a transient failure."""
    InjectedFault.objects.create(
        service=service, message_type=message_type, remaining=times, error=error, database=database
    )


def clear() -> None:
    InjectedFault.objects.all().delete()


def raise_if_injected(service: str, message_type: str) -> None:
    """Raise if a fault is armed for this consumer. Runs in its own transaction, so the
    countdown survives the rollback of the failing attempt.

    Every message a consumer handles passes here, and almost never is a fault armed: one plain
    read answers that, and only an armed fault costs the locking transaction."""
    if _any_armed(service, message_type):
        _raise_armed(service, message_type)


def _raise_armed(service: str, message_type: str) -> None:
    """The locking half of ``raise_if_injected``, once a plain read found a fault armed."""
    armed = InjectedFault.objects.filter(service=service, message_type=message_type)
    with transaction.atomic():
        fault = armed.select_for_update().order_by("id").first()
        if fault is None:
            return
        if fault.remaining is not None:
            if fault.remaining <= 1:
                fault.delete()
            else:
                InjectedFault.objects.filter(pk=fault.pk).update(remaining=F("remaining") - 1)
    message = f"{fault.error} ({service} on {message_type})"
    if fault.database:
        # As Django raises a dropped connection: its OperationalError from the driver's, which
        # has no SQLSTATE because no server answered.
        raise OperationalError(message) from psycopg.OperationalError(f"server closed the connection: {message}")
    raise InjectedFailure(message)


#: What the composition root installs before every handler: the plain read is asked together
#: with the inbox check (messaging/kernel/wiring.py ``Guard``), the lock only when it finds one.
GUARD = Guard(probe=_any_armed, hook=_raise_armed)
