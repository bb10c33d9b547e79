from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from contracts.common import OrderRef
from messaging.kernel.contracts import command


@command("analytics.record")
class RecordSale(OrderRef):
    """The lesson's ``analytics.record('revenue', total)`` and ``('items_sold', n)`` in one command."""

    revenue: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    items_sold: int = Field(ge=0)
