"""Command mode: inventory does what it is told, and reports the outcome to whoever asked."""

from __future__ import annotations

from typing import Any

from contracts.inventory import ReleaseStock, ReserveStock
from inventory import services
from messaging.kernel.envelope import Envelope
from messaging.kernel.errors import CommandRejected
from messaging.kernel.subscriptions import command_handler


@command_handler("inventory.reserve", service="inventory")
def reserve(envelope: Envelope, command: ReserveStock) -> dict[str, Any]:
    try:
        reservation = services.reserve_stock(command.order_id, command.items)
    except services.OutOfStock as exc:
        raise CommandRejected(str(exc)) from exc
    return {"items": reservation.items}


@command_handler("inventory.release", service="inventory")
def release(envelope: Envelope, command: ReleaseStock) -> dict[str, Any]:
    return {"items": services.release_stock(command.order_id)}
