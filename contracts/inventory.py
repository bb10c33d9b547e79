"""Inventory's commands (command mode) and the events it states (event mode)."""

from __future__ import annotations

from pydantic import Field

from contracts.common import OrderRef, StockLine
from messaging.kernel.contracts import command, event


@command("inventory.reserve")
class ReserveStock(OrderRef):
    items: list[StockLine] = Field(min_length=1, max_length=100)


@command("inventory.release")
class ReleaseStock(OrderRef):
    pass


@event("inventory.reserved")
class StockReserved(OrderRef):
    items: list[StockLine] = Field(min_length=1)


@event("inventory.reservation_failed")
class StockReservationFailed(OrderRef):
    reason: str = Field(max_length=500)


@event("inventory.released")
class StockReleased(OrderRef):
    items: list[StockLine]
