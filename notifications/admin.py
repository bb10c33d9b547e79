"""Emails the notifications service sent, shown here read-only."""

from __future__ import annotations

from django.contrib import admin

from notifications.models import SentEmail
from shop.admin import ReadOnlyModelAdmin


@admin.register(SentEmail)
class SentEmailAdmin(ReadOnlyModelAdmin[SentEmail]):
    list_display = ["to", "template", "subject", "order_id", "sent_at"]
    list_filter = ["template"]
    search_fields = ["to", "subject", "order_id"]
