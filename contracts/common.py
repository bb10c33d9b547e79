from __future__ import annotations

import uuid
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class Contract(BaseModel):
    """Base for message schemas: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StockLine(Contract):
    product_id: int = Field(gt=0)
    quantity: int = Field(gt=0, le=10_000)


class PricedLine(StockLine):
    sku: str
    unit_price: Decimal = Field(ge=0, max_digits=12, decimal_places=2)


class OrderRef(Contract):
    order_id: uuid.UUID
