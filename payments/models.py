from __future__ import annotations

from django.db import models


class Authorization(models.Model):
    """Payments' own record of the money it holds (or refused to hold) for an order.

    Only the token's last four characters are kept: the rules (payments/services.py) look at
    nothing else, and a stored token could be replayed by anyone who reads this table.

    A void that arrives before the authorization leaves a ``voided`` row with no amount and no
    token, so the late authorization is refused instead of leaking a hold on the customer's
    card that no order would ever release.

    Event mode needs two facts before it may authorize: the order (``order.placed``: amount and
    token) and its stock (``inventory.reserved``). They can arrive in either order, so either
    one leaves a row saying which it was (``requested``: the order is known; ``awaiting_order``:
    the stock is reserved but the order has not reached payments yet), and the second decides.
    """

    class Status(models.TextChoices):
        AWAITING_ORDER = "awaiting_order", "stock reserved, order not seen yet"
        REQUESTED = "requested", "requested"
        AUTHORIZED = "authorized", "authorized"
        DECLINED = "declined", "declined"
        VOIDED = "voided", "voided"

    order_id = models.UUIDField(unique=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, blank=True)
    token_last4 = models.CharField(max_length=4, blank=True, help_text="Never the whole token.")
    status = models.CharField(max_length=14, choices=Status.choices)
    reason = models.TextField(blank=True, help_text="Why the issuer declined, when it did.")
    stock_reserved = models.BooleanField(
        default=False, help_text="Event mode: inventory.reserved has reached payments (with the order, it may decide)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"authorization for {str(self.order_id)[:8]} ({self.status})"
