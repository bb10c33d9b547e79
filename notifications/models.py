from __future__ import annotations

from django.db import models


class SentEmail(models.Model):
    """Every email sent, one per order and template, so a redelivery sends nothing twice."""

    order_id = models.UUIDField(null=True, blank=True)
    template = models.CharField(max_length=50)
    to = models.EmailField()
    subject = models.CharField(max_length=200)
    body = models.TextField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [models.UniqueConstraint(fields=["order_id", "template"], name="one_email_per_order_template")]

    def __str__(self) -> str:
        return f"{self.template} to {self.to}"
