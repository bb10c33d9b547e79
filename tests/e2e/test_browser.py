"""The web walkthrough and the admin in a real browser (Debian's chromium through Playwright).

What a learner does: switch the mode, place an order in each mode and watch its timeline fill in
without reloading, open the source lines behind a row of the lesson's tables, log into the admin,
and retry a dead letter. Screenshots of each are kept in var/screenshots/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.auth.models import Permission, User

from catalog.models import Customer, Product
from core.models import DeadLetter, MessageLog
from messaging.operations import faults
from orders.models import Order
from tests.e2e.conftest import VIEWPORT, screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SETTLE_MS = 30_000
#: Measuring the tables reads every module of the project (lesson.evidence).
MEASURE_MS = 240_000
STAFF = ("teacher", "a-long-enough-password-1")
#: What a staff user needs for what these tests do: view orders and the log, retry dead letters.
STAFF_PERMISSIONS = ("view_order", "view_messagelog", "view_deadletter", "change_deadletter")


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = SETTLE_MS / 1000) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def open_walkthrough(page: Page, site: str, mode: str = "event", *, measure: bool = False) -> None:
    """Open the page. Unless ``measure``, the comparison tables are answered with a stand-in: measuring
    them reads the whole code base, and only the evidence test looks at them."""
    if not measure:
        page.route("**/walkthrough/tables", lambda route: route.fulfill(body="<p>(not measured in this test)</p>"))
    page.goto(f"{site}/walkthrough/?mode={mode}")
    page.wait_for_selector("#order-form")


def screenshot_above_tables(page: Page, name: str) -> None:
    """The page from the top to the end of the timelines: the mode switch, the form and what it caused."""
    box = page.locator("#timelines").bounding_box()
    assert box is not None
    page.set_viewport_size({"width": VIEWPORT["width"], "height": int(box["y"] + box["height"] + 16)})
    screenshot(page, name)


def place_order(page: Page, mode: str, *, email: str = "ada@example.com", sku: str = "PROD-A") -> Locator:
    """Switch to ``mode``, fill the form, submit; the new timeline card."""
    page.get_by_label(f"{mode.capitalize()} mode").check()
    page.select_option('select[name="user_id"]', str(Customer.objects.get(email=email).pk))
    page.select_option('select[name="product_id"]', str(Product.objects.get(sku=sku).pk))
    page.fill('input[name="quantity"]', "1")
    before = page.locator(".timeline").count()
    page.get_by_role("button", name=re.compile("Place order")).click()
    page.wait_for_function(f"document.querySelectorAll('.timeline').length > {before}")
    return page.locator(".timeline").first


def order_id(card: Locator) -> str:
    value = card.get_attribute("data-order-id")
    assert value, "the timeline card names no order"
    return value


def settled(card: Locator) -> None:
    card.page.wait_for_function(
        "card => card.dataset.state === 'settled'", arg=card.element_handle(), timeout=SETTLE_MS
    )


def tree_names(card: Locator) -> list[tuple[int, str]]:
    """(depth, message name) of every node in the card's causation tree, in document order."""
    return [
        (int(depth), name)
        for depth, name in card.evaluate(
            """card => [...card.querySelectorAll('li.node')].map(node => {
                let depth = 0;
                for (let up = node.parentElement; up !== card; up = up.parentElement)
                    if (up.matches('li.node')) depth += 1;
                return [depth, node.dataset.name];
            })"""
        )
    ]


def deliveries(card: Locator, name: str) -> dict[str, str]:
    """For the first node called ``name``: consuming service -> status."""
    node = card.locator(f'li.node[data-name="{name}"]').first
    return dict(
        node.evaluate(
            """node => [...node.querySelectorAll(':scope > ul.deliveries > li[data-service]')]
                   .map(d => [d.dataset.service, d.dataset.status])"""
        )
    )


def staff_user() -> User:
    user = User.objects.create_user(STAFF[0], password=STAFF[1], is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=STAFF_PERMISSIONS))
    return user


def log_in(page: Page) -> None:
    """On the admin's login page (where the admin redirects an anonymous visitor): log in."""
    page.wait_for_selector("#id_username")
    page.fill("#id_username", STAFF[0])
    page.fill("#id_password", STAFF[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    assert page.locator("#id_username").count() == 0, "still on the login page: the login failed"


# --- the walkthrough ----------------------------------------------------------------------------


def test_the_mode_switch_decides_the_mode_of_the_next_order(page: Page, site: str) -> None:
    open_walkthrough(page, site, mode="event")
    button = page.get_by_role("button", name=re.compile("Place order"))
    assert button.inner_text() == "Place order in event mode"
    assert page.locator('.explainer[data-for="event"]').is_visible()
    assert not page.locator('.explainer[data-for="command"]').is_visible()

    page.get_by_label("Command mode").check()
    assert button.inner_text() == "Place order in command mode"
    assert page.locator("body").get_attribute("data-mode") == "command"
    assert page.locator('.explainer[data-for="command"]').is_visible()
    assert not page.locator('.explainer[data-for="event"]').is_visible()
    assert parse_qs(urlparse(page.url).query)["mode"] == ["command"]  # a reload keeps the choice

    card = place_order(page, "command")
    assert card.get_attribute("data-mode") == "command"
    assert Order.objects.get(pk=order_id(card)).mode == "command"
    page.get_by_label("Event mode").check()
    card = place_order(page, "event")
    assert Order.objects.get(pk=order_id(card)).mode == "event"


#: The causation tree each mode draws for Ada's order (in stock, low risk): (depth, message).
EXPECTED_TREES = {
    "command": {
        (0, "inventory.reserve"),
        (1, "orders.advance_saga"),
        (2, "payment.authorize"),
        (3, "orders.advance_saga"),
        (0, "fraud.check"),
        (1, "orders.review_risk"),
    },
    "event": {
        (0, "order.placed"),
        (1, "inventory.reserved"),
        (2, "payment.authorized"),
        (1, "order.cleared"),
        (2, "order.risk_scored"),
    },
}
#: Fraud's verdict and the payment finish in either order, and the later one confirms. Command
#: mode: the confirmation's commands follow the payment's reply (depth 4), or fraud's (depth 2).
#: Event mode: when the verdict is later, the order first records that it waits (order.authorized).
CONFIRMED_BY = {
    "command": (
        {(4, "email.send"), (4, "analytics.record")},
        {(2, "email.send"), (2, "analytics.record")},
    ),
    "event": ({(3, "order.confirmed")}, {(3, "order.authorized"), (2, "order.confirmed")}),
}


@pytest.mark.parametrize("mode", ["command", "event"])
def test_an_order_in_each_mode_fills_its_timeline_live(page: Page, site: str, mode: str) -> None:
    open_walkthrough(page, site, mode=mode)
    page.evaluate("window.sameDocument = true")  # gone if anything reloads the page
    card = place_order(page, mode)
    placed = order_id(card)
    assert card.get_attribute("data-state") in {"live", "settled"}

    settled(card)
    assert page.evaluate("window.sameDocument") is True, "the page reloaded: the timeline must fill in by itself"
    trees = set(tree_names(card))
    assert EXPECTED_TREES[mode] <= trees and trees - EXPECTED_TREES[mode] in CONFIRMED_BY[mode], trees
    order = Order.objects.get(pk=placed)
    assert (order.mode, order.status) == (mode, Order.Status.CONFIRMED)
    assert card.get_attribute("data-status") == "confirmed"
    if mode == "command":
        assert deliveries(card, "inventory.reserve") == {"inventory": "handled"}
        assert deliveries(card, "email.send") == {"notifications": "handled"}
    else:  # one event, one copy per subscriber
        assert deliveries(card, "order.placed") == {
            "fraud": "handled",
            "inventory": "handled",
            "payments": "handled",
            "projector": "handled",
        }
        assert deliveries(card, "order.confirmed") == {
            "analytics": "handled",
            "notifications": "handled",
            "projector": "handled",
        }
    # every delivery the page shows is a row of the message log, with its duration
    handled = MessageLog.objects.filter(correlation_id=placed).exclude(status=MessageLog.Status.SENT)
    assert card.locator("li.delivery[data-status]").count() == handled.count()
    assert card.locator("li.delivery .duration").count() == handled.exclude(duration_ms=None).count() > 0
    assert card.locator("a.admin-order").get_attribute("href") == f"/admin/orders/order/{placed}/change/"
    screenshot_above_tables(page, f"walkthrough-{mode}-mode")


def test_the_evidence_of_a_table_row_shows_its_source_lines(page: Page, site: str) -> None:
    open_walkthrough(page, site, measure=True)
    page.locator("#tables").scroll_into_view_if_needed()  # the tables are measured once seen
    page.wait_for_selector('#tables-body[data-loaded="true"]', timeout=MEASURE_MS)
    rows = page.locator("tr.comparison-row")
    assert page.locator("#table-1 tr.comparison-row").count() == 6
    assert page.locator("#table-2 tr.comparison-row").count() == 6
    row = page.locator("tr.comparison-row", has=page.locator("a.source-link")).first
    assert rows.count() == 12 and row.count() == 1, "no row of the tables links to its source"
    link = row.locator("a.source-link").first
    query = parse_qs(urlparse(link.get_attribute("href") or "").query)
    path, first, last = query["path"][0], int(query["line"][0]), int(query["end_line"][0])

    link.click()
    viewer = page.locator("tr.evidence-row .source-viewer")
    viewer.locator(".line.cited").first.wait_for()
    assert viewer.locator(".source-title code").inner_text() == link.inner_text()
    cited = viewer.locator(".line.cited")
    assert cited.count() == last - first + 1
    source = (ROOT / path).read_text(encoding="utf-8").splitlines()
    for index in range(cited.count()):
        line = cited.nth(index)
        number = int(line.get_attribute("data-line") or 0)
        assert number == first + index
        assert line.locator(".code").inner_text().rstrip() == source[number - 1].rstrip()
    viewer.scroll_into_view_if_needed()
    screenshot(page, "walkthrough-evidence")

    link.click()  # a second click closes it
    assert page.locator("tr.evidence-row").count() == 0


# --- the admin ----------------------------------------------------------------------------------


def test_staff_log_into_the_admin_and_see_the_order_timeline(page: Page, site: str) -> None:
    staff_user()
    open_walkthrough(page, site, mode="event")
    card = place_order(page, "event")
    settled(card)
    placed = order_id(card)

    card.locator("a.admin-order").click()
    log_in(page)  # the admin sent us to its login page, with the order's page as next
    assert urlparse(page.url).path == f"/admin/orders/order/{placed}/change/"
    content = page.locator("#content")
    for name in ("order.placed", "inventory.reserved", "order.confirmed"):
        assert content.get_by_text(name).count() > 0, name
    screenshot(page, "admin-order-timeline", full_page=True)


def test_a_dead_letter_is_retried_from_the_admin(page: Page, site: str) -> None:
    staff_user()
    faults.inject("analytics", "order.confirmed")  # analytics fails every attempt, then gives up
    open_walkthrough(page, site, mode="event")
    card = place_order(page, "event")
    settled(card)
    assert deliveries(card, "order.confirmed")["analytics"] == "dead_lettered"
    letter = DeadLetter.objects.get(consumer="analytics", message_type="order.confirmed")
    faults.clear()  # the cause is fixed: now the retry can succeed

    card.locator("a.admin-dead-letters").click()
    log_in(page)
    assert urlparse(page.url).path == "/admin/shop/deadletter/"
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1 and "analytics" in rows.first.inner_text()
    rows.first.locator("input.action-select").check()
    page.select_option('select[name="action"]', "retry_selected")
    page.get_by_role("button", name="Go").click()
    page.wait_for_load_state()
    assert "Sent 1 dead letter(s) back to their own consumer" in page.locator(".messagelist").inner_text()
    screenshot(page, "admin-dead-letter-retried")

    wait_for(
        "analytics to handle the retried event",
        lambda: MessageLog.objects.filter(
            message_id=letter.message_id, service="analytics", status=MessageLog.Status.HANDLED
        ).exists(),
    )
    letter.refresh_from_db()
    assert letter.retried_at is not None
    # only analytics got the event again: notifications handled its copy once, before the retry
    assert (
        MessageLog.objects.filter(message_id=letter.message_id, service="notifications")
        .exclude(status=MessageLog.Status.SENT)
        .count()
        == 1
    )
