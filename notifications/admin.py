"""Emails the notifications service sent, shown here read-only."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyModelAdmin
from notifications.models import SentEmail


@admin.register(SentEmail)
class SentEmailAdmin(ReadOnlyModelAdmin[SentEmail]):
    list_display = ["to", "template", "subject", "order_id", "sent_at"]
    list_filter = ["template"]
    search_fields = ["to", "subject", "order_id"]
