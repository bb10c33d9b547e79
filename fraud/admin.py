"""Fraud's risk assessments: written by the fraud service, shown here read-only."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyModelAdmin
from fraud.models import RiskAssessment


@admin.register(RiskAssessment)
class RiskAssessmentAdmin(ReadOnlyModelAdmin[RiskAssessment]):
    list_display = ["order_id", "score", "flagged", "reasons", "assessed_at"]
    list_filter = ["flagged"]
    search_fields = ["order_id"]
