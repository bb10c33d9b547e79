"""``python manage.py check_consistency``: does every event-mode order row equal the replay of
its stream?

The row is written by applying each lifecycle event to it (``orders.rows.apply_event``), and the
stream is the list of those same events, so the two must agree. A difference means someone
changed the row behind the services' back (or a bug did). Exits non-zero if anything drifted.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from orders.models import FlowMode, Order
from orders.replay import check_consistency, jsonable


class Command(BaseCommand):
    help = "Compare every event-mode order row with the replay of its event stream; exit 1 on any drift."

    def handle(self, *args: Any, **options: Any) -> None:
        checked = Order.objects.filter(mode=FlowMode.EVENT).count()
        drifts = list(check_consistency())
        for drift in drifts:
            self.stdout.write(
                f"DRIFT order {drift.order_id} {drift.field}: "
                f"row={jsonable(drift.row_value)!r} replayed={jsonable(drift.replayed_value)!r}"
            )
        orders = len({drift.order_id for drift in drifts})
        if drifts:
            raise CommandError(
                f"{len(drifts)} field(s) drifted in {orders} of {checked} event-mode order(s): "
                "the row no longer equals the replay of its stream"
            )
        self.stdout.write(f"OK: {checked} event-mode order(s); every row equals the replay of its stream")
