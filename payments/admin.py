"""Payments' own authorizations: written by the payments service, shown here read-only."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyModelAdmin
from payments.models import Authorization


@admin.register(Authorization)
class AuthorizationAdmin(ReadOnlyModelAdmin[Authorization]):
    list_display = ["order_id", "status", "amount", "currency", "token_last4", "reason", "created_at"]
    list_filter = ["status"]
    search_fields = ["order_id"]
