"""Sends order emails through Django's mail framework (EMAIL_BACKEND decides where they go)."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.mail import send_mail
from django.db import transaction

from notifications.models import SentEmail

SUBJECTS = {
    "order-confirmation": "Your order {short} is confirmed",
    "order-cancelled": "Your order {short} was cancelled",
}
BODIES = {
    "order-confirmation": "Hello {customer_name},\n\nwe have your order {order_id} (total {total}).\n",
    "order-cancelled": "Hello {customer_name},\n\nyour order {order_id} was cancelled: {reason}.\n",
}


def send_order_email(*, to: str, template: str, data: dict[str, Any]) -> SentEmail | None:
    """Send once per (order, template). Returns None when it was already sent.

    The row is written before the mail is handed to the backend, in one transaction: if the
    backend fails, the row rolls back and a retry sends again (at-least-once); once committed,
    a redelivered message finds the row and sends nothing.
    """
    order_id = uuid.UUID(str(data["order_id"])) if data.get("order_id") else None
    fields = {"customer_name": "customer", "total": "", "reason": "", **data, "short": str(order_id)[:8]}
    with transaction.atomic():
        if order_id and SentEmail.objects.filter(order_id=order_id, template=template).exists():
            return None
        email = SentEmail.objects.create(
            order_id=order_id,
            template=template,
            to=to,
            subject=SUBJECTS[template].format(**fields),
            body=BODIES[template].format(**fields),
        )
        send_mail(email.subject, email.body, None, [to])
    return email
