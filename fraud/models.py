from __future__ import annotations

from django.db import models


class RiskAssessment(models.Model):
    order_id = models.UUIDField(unique=True)
    score = models.FloatField()
    flagged = models.BooleanField(default=False)
    reasons = models.JSONField(default=list)
    assessed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-assessed_at"]

    def __str__(self) -> str:
        return f"{str(self.order_id)[:8]} risk {self.score:.2f}"
