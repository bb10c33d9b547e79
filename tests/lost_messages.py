"""Staging a message the broker accepted and then lost, for the redelivery tests.

A transport that accepts every message and delivers none (``RecordingTransport``) stands in for
a broker that lost them after accepting them: the outbox marks them sent, exactly as it would
after kombu's Redis BRPOP window swallowed them.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Queue

from catalog.models import Customer, Product
from core.models import MessageLog
from messaging import bootstrap
from orders import services
from orders.models import Order
from tests.fakes import RecordingTransport


def place_and_lose(mode: str) -> Order:
    """Place an order whose messages the 'broker' accepts and never delivers."""
    bootstrap.configure(transport=RecordingTransport())
    try:
        customer = Customer.objects.get(email="ada@example.com")
        product = Product.objects.get(sku="PROD-A")
        return services.place_order(customer_id=customer.pk, items=[services.LineRequest(product.pk, 1)], mode=mode)
    finally:
        bootstrap.configure()


def take_ready(app: Celery, queue: str) -> list[Any]:
    """Take every message ready in ``queue`` (acknowledged: the test consumes them)."""
    taken = []
    with app.connection_for_write() as conn:
        bound = Queue(queue)(conn.default_channel)
        while (message := bound.get(no_ack=True)) is not None:
            taken.append(message)
    return taken


def handled_by(message_id: Any) -> list[str]:
    """The services that logged an outcome for a message (anything but the sender's 'sent')."""
    return sorted(
        MessageLog.objects.filter(message_id=message_id)
        .exclude(status=MessageLog.Status.SENT)
        .values_list("service", flat=True)
    )
