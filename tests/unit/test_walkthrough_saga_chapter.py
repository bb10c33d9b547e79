"""Walkthrough chapter 8 (sagas) end to end on the embedded worker (memory://, SQLite).

The chapter runs once for the module, in both modes. Each scenario must end the same in both
styles and as a saga should: the success confirmed with its stock and money held, every other
order cancelled with nothing held. The printed table is checked against the database, read
inside the fixture (before any test's flush).
"""

from __future__ import annotations

import time
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command

from core.models import OutboxMessage
from inventory.models import Reservation
from lesson.evidence import sagas
from lesson.walkthrough.chapter8 import NO_SAGA, SCENARIOS, timer_handled_after
from notifications.models import SentEmail
from orders.models import Order, Saga
from payments.models import Authorization

STYLES = {"command": "orchestration", "event": "choreography"}
#: What every style must end with: (order, stock Δ, money held, stock held, e-mails).
CONFIRMED = ("confirmed", "-2", "yes", "yes", "order-confirmation")
UNDONE = ("cancelled", "+0", "no", "no", "order-cancelled")
EXPECTED = {"success": CONFIRMED, "out of stock": UNDONE, "payment declined": UNDONE, "timeout": UNDONE}


def _row(text: str, *starts: str) -> list[str]:
    """The cells of the first table line whose cells begin with ``starts`` (rich ROUNDED boxes)."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells[: len(starts)] == list(starts):
            return cells
    raise AssertionError(f"no table row starting with {starts}")


def _compared(cells: list[str]) -> tuple[str, ...]:
    """order, stock Δ, money held, stock held, e-mails: "yes (authorized)" compares as "yes"."""
    order, stock, money, held, emails = cells[2:7]
    return order, stock, money.split()[0], held.split()[0], emails


def _in_database(order: Order) -> tuple[str, ...]:
    authorization = Authorization.objects.filter(order_id=order.id).first()
    reservation = Reservation.objects.filter(order_id=order.id).first()
    emails = sorted(SentEmail.objects.filter(order_id=order.id).values_list("template", flat=True))
    return (
        order.status,
        "yes" if authorization and authorization.status == Authorization.Status.AUTHORIZED else "no",
        "yes" if reservation and reservation.status == Reservation.Status.RESERVED else "no",
        ", ".join(emails),
    )


@pytest.fixture(scope="module")
def chapter_8(django_db_setup: None, django_db_blocker: Any) -> dict[str, Any]:
    timeout, slow = settings.SHOP_SAGA_TIMEOUT, settings.SHOP_PAYMENT_SLOW_SECONDS
    with django_db_blocker.unblock():
        before = set(Order.objects.values_list("id", flat=True))
        out = StringIO()
        started = time.monotonic()
        call_command("walkthrough", "--chapter", "8", "--mode", "both", stdout=out)
        elapsed = time.monotonic() - started
        placed = list(Order.objects.exclude(id__in=before).order_by("placed_at"))
        orders = {}
        for mode in STYLES:
            mine = [o for o in placed if o.mode == mode]
            assert len(mine) == len(SCENARIOS), mine
            orders.update({(s.name, mode): o for s, o in zip(SCENARIOS, mine, strict=True)})
        return {
            "text": out.getvalue(),
            "elapsed": elapsed,
            "db": {key: _in_database(order) for key, order in orders.items()},
            "reasons": {key: order.cancel_reason for key, order in orders.items()},
            "timers": {key: timer_handled_after(order) for key, order in orders.items()},
            "sagas": {key: Saga.objects.filter(order=order).exists() for key, order in orders.items()},
            "unsent": OutboxMessage.objects.filter(
                sent_at__isnull=True, envelope__correlation_id__in=[str(o.id) for o in placed]
            ).count(),
            "settings_after": (settings.SHOP_SAGA_TIMEOUT, settings.SHOP_PAYMENT_SLOW_SECONDS),
            "settings_before": (timeout, slow),
        }


@pytest.mark.parametrize("scenario", list(EXPECTED))
@pytest.mark.django_db(transaction=True)
def test_both_styles_end_the_same_and_as_a_saga_should(chapter_8: dict[str, Any], scenario: str) -> None:
    text = chapter_8["text"]
    ends = {mode: _compared(_row(text, scenario, style)) for mode, style in STYLES.items()}
    assert ends["command"] == ends["event"], ends
    assert ends["command"] == EXPECTED[scenario]
    for mode in STYLES:  # the table says what the services' own tables hold
        order, _, money, held, emails = ends[mode]
        assert chapter_8["db"][(scenario, mode)] == (order, money, held, emails), mode


@pytest.mark.django_db(transaction=True)
def test_the_timeout_cancels_on_the_orders_own_deadline(chapter_8: dict[str, Any]) -> None:
    for mode in STYLES:
        # Not before the deadline. It may be handled late: on the embedded default every service
        # shares one worker, whose consumer loop waits out the slow issuer in event mode. The
        # answer that then arrives after the deadline is refused all the same (services._confirm).
        fired = chapter_8["timers"][("timeout", mode)]
        assert fired is not None and fired >= 2, (mode, fired)
        assert chapter_8["reasons"][("timeout", mode)] == "timed out: not confirmed within 2 s", mode
        assert chapter_8["timers"][("success", mode)] is None  # settled in time: the timer was withdrawn
    assert chapter_8["settings_after"] == chapter_8["settings_before"]  # the short deadline was the chapter's only
    assert chapter_8["unsent"] == 0  # every timer was published or withdrawn: none left for a later run


@pytest.mark.django_db(transaction=True)
def test_only_orchestration_keeps_a_saga_row(chapter_8: dict[str, Any]) -> None:
    for scenario in EXPECTED:
        assert chapter_8["sagas"][(scenario, "command")] and not chapter_8["sagas"][(scenario, "event")]
        record = _row(chapter_8["text"], scenario, "choreography")[7]  # its first line: the cell wraps
        assert record and NO_SAGA.startswith(record), record
    assert _row(chapter_8["text"], "success", "orchestration")[7].startswith("saga completed")
    assert _row(chapter_8["text"], "timeout", "orchestration")[7].startswith("saga compensated")


@pytest.mark.django_db(transaction=True)
def test_the_chapter_shows_the_computed_comparison(chapter_8: dict[str, Any]) -> None:
    text = chapter_8["text"]
    written = sagas.where_written()
    known = _row(text, "modules that know the order")
    assert known[1] == f"1: {written['command'].modules[0]}"
    assert known[2].startswith(f"{len(written['event'].modules)}: ")
    costs = {c.mode: c for c in sagas.patch_costs()}
    assert _row(text, "lines added / removed")[1:] == [
        f"+{costs[m].added} / -{costs[m].removed}" for m in ("command", "event")
    ]
    plan = written["command"].refs[0]
    assert f"{plan.location}: {plan.why}"[:40] in text  # where the plan is, with its lines shown
    assert "FULFILMENT = (" in text
