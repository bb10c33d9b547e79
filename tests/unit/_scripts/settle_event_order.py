"""Place one event-mode order with a real in-process worker and report how it settled, as JSON.

Run as ``python -m tests.unit._scripts.settle_event_order`` from the project root, with
DJANGO_SETTINGS_MODULE and DATABASE_URL (a fresh SQLite file) set. Migrates, seeds the catalog,
starts messaging.celery_adapter.embedded.embedded_worker, places Mallory's order for the grinder (PROD-C)
and waits until every event the order caused has been handled by every subscriber.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import django

SETTLE_TIMEOUT = 60.0
QUIET_FOR = 0.5
MARKER = "RESULT:"


def _orders_modules(root: Path) -> dict[str, dict[str, str]]:
    out = {}
    for name, module in sorted(sys.modules.items()):
        if name != "orders" and not name.startswith("orders."):
            continue
        path = Path(getattr(module, "__file__", "") or "")
        if path.suffix != ".py":
            continue
        out[name] = {
            "path": str(path.resolve().relative_to(root)),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        }
    return out


def _unsettled(order_id: str) -> list[str]:
    from core.models import MessageLog
    from messaging.kernel.subscriptions import table

    subscribers = table()
    rows = list(MessageLog.objects.filter(correlation_id=order_id))
    handled = {(str(r.message_id), r.service) for r in rows if r.status != MessageLog.Status.SENT}
    missing = []
    for row in rows:
        if row.status == MessageLog.Status.SENT and row.kind == "event":
            missing += [
                f"{row.name}->{s}" for s in subscribers.get(row.name, []) if (str(row.message_id), s) not in handled
            ]
    return missing


def main() -> None:
    root = Path.cwd().resolve()
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)

    from catalog.models import Customer, Product
    from catalog.services import seed_catalog
    from core.models import DeadLetter, MessageLog
    from messaging.celery_adapter.embedded import embedded_worker
    from messaging.kernel.subscriptions import services, table
    from orders.models import Order
    from orders.services import LineRequest, place_order
    from shop.celery import app

    seed_catalog()
    mallory = Customer.objects.get(email="mallory@mailinator.com")
    grinder = Product.objects.get(sku="PROD-C")

    with embedded_worker(app):
        order = place_order(
            customer_id=mallory.pk, items=[LineRequest(product_id=grinder.pk, quantity=1)], mode="event"
        )
        order_id = str(order.id)
        deadline = time.monotonic() + SETTLE_TIMEOUT
        last_count, quiet_since = -1, time.monotonic()
        while True:
            count = MessageLog.objects.filter(correlation_id=order_id).count()
            if count != last_count:
                last_count, quiet_since = count, time.monotonic()
            status = Order.objects.get(pk=order_id).status
            settled = status != Order.Status.PLACED and not _unsettled(order_id)
            if settled and time.monotonic() - quiet_since >= QUIET_FOR:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)

    order = Order.objects.get(pk=order_id)
    result = {
        "settled": settled,
        "unsettled": _unsettled(order_id),
        "customer_id": mallory.pk,
        "status": order.status,
        "risk_score": order.risk_score,
        "hold_reason": order.hold_reason,
        "subscribers": table(),
        "services": services(),
        "installed_apps": list(settings.INSTALLED_APPS),
        "top_level_modules": sorted({name.split(".", 1)[0] for name in sys.modules}),
        "orders_modules": _orders_modules(root),
        "messages": sorted(
            {f"{r.name}@{r.service}:{r.status}" for r in MessageLog.objects.filter(correlation_id=order_id)}
        ),
        "dead_letters": DeadLetter.objects.count(),
    }
    print(MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
