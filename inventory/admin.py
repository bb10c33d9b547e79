"""Inventory's own reservations: written by the inventory service, shown here read-only."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyModelAdmin
from inventory.models import Reservation


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyModelAdmin[Reservation]):
    list_display = ["order_id", "status", "items", "created_at"]
    list_filter = ["status"]
    search_fields = ["order_id"]
