"""The admin after real orders: each order's timeline, the mode filter, retrying a dead letter,
rebuilding the read model, and the comparison on the index, checked against the database.

Orders go through the embedded worker (every service's consumers, in threads, on memory://), so
the message log, the dead letters and the event store hold what a real run writes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from analytics.models import MetricRecord
from core.models import DeadLetter, EventRecord, MessageLog
from core.timeline import Handling, Timeline
from lesson.admin_summary import comparison_tables
from lesson.walkthrough.scenarios import Run, Scenario, play
from lesson.walkthrough.summary import PRODUCER
from messaging import bootstrap
from messaging.kernel.subscriptions import table
from messaging.operations import faults
from orders.models import FlowMode, Order
from readmodel.models import OrderSummary
from tests.fakes import RecordingTransport

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db_engine]

ADA = Scenario("Ada", "a normal order", "ada@example.com", (("PROD-A", 2),))
GRACE = Scenario("Grace", "a normal order", "grace@example.com", (("PROD-B", 1),))
#: One consumer per mode fails once, then succeeds: its line must show 2 attempts.
FLAKY: dict[str, tuple[str, str]] = {
    FlowMode.COMMAND: ("notifications", "email.send"),
    FlowMode.EVENT: ("analytics", "order.confirmed"),
}
STATUS_LABELS = dict(MessageLog.Status.choices)


@pytest.fixture
def live_worker(catalog: None) -> Iterator[None]:
    from messaging.celery_adapter.embedded import embedded_worker
    from shop.celery import app

    bootstrap.configure()
    with embedded_worker(app):
        yield


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-12345"))
    return client


def settled(scenario: Scenario, mode: str) -> Run:
    run = play(scenario, mode, timeout=30)
    assert not run.timed_out, f"{mode}: still waiting for {run.waiting_for}"
    return run


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def change_url(order: Order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def table_row(page: str, marker: str) -> str:
    """The ``<tr>`` of ``page`` that contains ``marker``, whitespace collapsed."""
    rows = [re.sub(r"\s+", " ", tr) for tr in re.findall(r"<tr[^>]*>.*?</tr>", page, re.S) if marker in tr]
    assert len(rows) == 1, f"{len(rows)} rows contain {marker!r}"
    return rows[0]


def handlings(timeline: Timeline) -> list[Handling]:
    return [h for step in timeline.steps for h in step.handlings]


# --- the timeline ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [FlowMode.COMMAND, FlowMode.EVENT])
def test_the_timeline_shows_every_message_with_consumer_status_attempts_and_duration(
    live_worker: None, staff: Client, mode: str
) -> None:
    flaky_service, flaky_message = FLAKY[mode]
    faults.inject(flaky_service, flaky_message, times=1)
    order = settled(ADA, mode).order
    response = staff.get(change_url(order))
    assert response.status_code == 200
    page = response.content.decode()
    timeline: Timeline = response.context["timeline"]
    rows = MessageLog.objects.filter(correlation_id=str(order.id))
    assert rows.count() == timeline.rows_total > 0 and not timeline.truncated

    # Every message sent is a step; every handling row is a line, with the log's own figures.
    sent = rows.filter(status=MessageLog.Status.SENT)
    assert {(s.sent_log_id, s.name, s.sender, s.route) for s in timeline.steps} == {
        (r.pk, r.name, r.service, r.route) for r in sent
    }
    handled = rows.exclude(status=MessageLog.Status.SENT)
    assert sorted((h.log_id, h.consumer, h.status, h.attempts, h.duration_ms) for h in handlings(timeline)) == sorted(
        (r.pk, r.service, STATUS_LABELS[r.status], r.attempts, r.duration_ms) for r in handled
    )
    assert all(h.duration_ms is not None and h.duration_ms >= 0 for h in handlings(timeline))

    # The flaky consumer's line, as the page draws it: handled at the second attempt, with its time.
    (flaky,) = [h for s in timeline.steps for h in s.handlings if (h.consumer, s.name) == FLAKY[mode]]
    assert (flaky.status, flaky.attempts) == ("handled", 2)
    line = table_row(page, reverse("admin:shop_messagelog_change", args=[flaky.log_id]))
    assert f">{flaky_service}</a>" in line
    assert f'<td class="timeline-numbers">2</td> <td class="timeline-numbers">{flaky.duration_ms:.1f}</td>' in line

    steps = {s.name: s for s in timeline.steps}
    if mode == FlowMode.COMMAND:
        # The producer addresses one consumer per command, and hears back through a reply.
        assert [h.consumer for h in steps["inventory.reserve"].handlings] == ["inventory"]
        assert steps["inventory.reserve"].route == "queue inventory.reserve"
        replies = [(s.sender, s.depth) for s in timeline.steps if s.name == "orders.advance_saga"]
        assert replies == [("inventory", 1), ("payments", 3)], "each saga step's outcome comes back to orders"
        assert "order.placed" not in steps
    else:
        # One fact, published once, handled by every subscriber from its own queue.
        placed = steps["order.placed"]
        assert (placed.sender, placed.route, placed.depth) == (PRODUCER, "exchange events", 0)
        assert sorted(h.consumer for h in placed.handlings) == table()["order.placed"]
        assert {h.queue for h in placed.handlings} == {f"{c}.events" for c in table()["order.placed"]}
        assert "inventory.reserve" not in steps
        for consumer in table()["order.placed"]:
            assert "from " + f"{consumer}.events" in page


def test_the_timeline_of_an_order_without_messages_says_so(
    staff: Client, recorded: RecordingTransport, catalog: None
) -> None:
    from lesson.walkthrough.scenarios import place

    order = place(ADA, FlowMode.EVENT)
    MessageLog.objects.filter(correlation_id=str(order.id)).delete()
    page = staff.get(change_url(order)).content.decode()
    assert "No messages recorded for this order." in page
    assert "0 message log rows for this order" in page


# --- the mode filter ---------------------------------------------------------------------------


def test_orders_are_filtered_by_mode(staff: Client, recorded: RecordingTransport, catalog: None) -> None:
    from lesson.walkthrough.scenarios import place

    placed = {mode: {place(ADA, mode).pk, place(GRACE, mode).pk} for mode in (FlowMode.COMMAND, FlowMode.EVENT)}
    url = reverse("admin:orders_order_changelist")
    everything = staff.get(url).content.decode()
    for mode in placed:
        assert f'href="?mode__exact={mode}"' in everything  # the filter in the sidebar
        response = staff.get(url, {"mode": mode})
        assert {o.pk for o in response.context["cl"].result_list} == placed[mode]


# --- dead letters ------------------------------------------------------------------------------


def statuses_by_service(message_id: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for service, status in (
        MessageLog.objects.filter(message_id=message_id).order_by("id").values_list("service", "status")
    ):
        out.setdefault(service, []).append(status)
    return out


def test_the_retry_action_sends_a_dead_letter_back_to_its_own_consumer_only(live_worker: None, staff: Client) -> None:
    faults.inject("analytics", "order.confirmed")  # fails every attempt: analytics gives up
    order = settled(ADA, FlowMode.EVENT).order
    letter = DeadLetter.objects.get(consumer="analytics")
    assert (letter.message_type, letter.source) == ("order.confirmed", "analytics.events")
    assert not MetricRecord.objects.filter(order_id=order.id).exists()
    before = statuses_by_service(letter.message_id)
    others = set(table()["order.confirmed"]) - {"analytics"}
    assert others and all(before[s] == ["handled"] for s in others)  # they had their copy already
    faults.clear()

    url = reverse("admin:shop_deadletter_changelist")
    response = staff.post(url, {"action": "retry_selected", "_selected_action": [letter.pk]}, follow=True)
    assert "Sent 1 dead letter(s) back to their own consumer" in response.content.decode()
    wait_for("analytics to handle the retried letter", lambda: MetricRecord.objects.filter(order_id=order.id).exists())
    time.sleep(1.0)  # anything misrouted would have landed by now

    after = statuses_by_service(letter.message_id)
    assert after.pop("analytics") == [*before.pop("analytics"), "handled"]
    assert after == {**before, PRODUCER: [*before[PRODUCER], "sent"]}  # the re-send, and nobody else
    letter.refresh_from_db()
    assert letter.retried_at is not None
    # The order's timeline tells it: dead-lettered, sent again, then handled.
    timeline: Timeline = staff.get(change_url(order)).context["timeline"]
    (confirmed,) = [s for s in timeline.steps if s.name == "order.confirmed"]
    analytics = [h.status for h in confirmed.handlings if h.consumer == "analytics"]
    assert analytics == ["dead-lettered", "handled"]
    assert [h.status for h in confirmed.handlings if h.consumer == PRODUCER] == ["sent again"]


# --- rebuilding the read model -----------------------------------------------------------------


def test_the_rebuild_button_posts_with_a_csrf_token_and_reports_the_counts(
    recorded: RecordingTransport, catalog: None
) -> None:
    from lesson.walkthrough.scenarios import place

    for scenario in (ADA, GRACE):
        place(scenario, FlowMode.EVENT)  # stored in the event store; no projector ran (recorded)
    place(ADA, FlowMode.COMMAND)  # no stream: not in the read model
    assert not OrderSummary.objects.exists()
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-12345"))
    rebuild = reverse("admin:readmodel_ordersummary_rebuild")
    assert client.get(rebuild).status_code == 405
    assert client.post(rebuild).status_code == 403  # no CSRF token
    assert not OrderSummary.objects.exists()

    page = client.get(reverse("admin:readmodel_ordersummary_changelist")).content.decode()
    form = re.search(rf'<form method="post" action="{rebuild}".*?</form>', page, re.S)
    assert form is not None, "no rebuild button"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.group(0))
    assert token is not None
    response = client.post(rebuild, {"csrfmiddlewaretoken": token.group(1)}, follow=True)
    assert response.status_code == 200
    streams, events = 2, EventRecord.objects.count()
    assert events >= streams
    assert f"Rebuilt {streams} order summaries from {events} events" in response.content.decode()
    assert OrderSummary.objects.count() == streams


# --- the index ---------------------------------------------------------------------------------


def test_the_index_summary_matches_the_database(live_worker: None, staff: Client) -> None:
    runs = [settled(ADA, FlowMode.COMMAND), settled(GRACE, FlowMode.COMMAND), settled(ADA, FlowMode.EVENT)]
    DeadLetter.objects.create(consumer="fraud", source="fraud.events", reason="boom", raw="{}")
    response = staff.get(reverse("admin:index"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Both modes, side by side" in page
    assert reverse("admin:orders_order_changelist") in page  # the app list is still there

    def row(name: str) -> str:
        return table_row(page, f'id="summary-{name}"')

    orders_url = reverse("admin:orders_order_changelist")
    log_url = reverse("admin:shop_messagelog_changelist")
    cells: dict[str, list[str]] = {}
    for mode in (FlowMode.COMMAND, FlowMode.EVENT):
        mine = [r.order for r in runs if r.mode == mode]
        ids = [str(o.id) for o in mine]
        sent = MessageLog.objects.filter(correlation_id__in=ids, status=MessageLog.Status.SENT)
        by_producer = sent.filter(service=PRODUCER)
        commands = by_producer.filter(kind="command").values_list("message_id", flat=True)
        named = sorted(
            set(
                MessageLog.objects.filter(message_id__in=list(commands))
                .exclude(status=MessageLog.Status.SENT)
                .values_list("service", flat=True)
            )
        )
        stored = EventRecord.objects.filter(stream_id__in=ids).count()
        cells[mode] = [
            f'<a href="{orders_url}?mode={mode}">{len(mine)}</a>',
            f"{by_producer.count() / len(mine):.1f}",
            f"{sent.count() / len(mine):.1f}",
            f"{len(named)}: {', '.join(named)}" if named else "0",
            str(stored),
        ]
        latest = max(mine, key=lambda o: o.placed_at)
        assert f'<a href="{log_url}?correlation_id={latest.id}">message log</a>' in row("latest")
    assert cells[FlowMode.COMMAND][3].startswith("5: analytics, fraud, inventory, notifications, payments")
    assert cells[FlowMode.EVENT][3] == "0"  # the lesson's point: the producer names nobody
    assert cells[FlowMode.COMMAND][4] == "0" and cells[FlowMode.EVENT][4] != "0"
    for index, name in enumerate(["orders", "producer-per-order", "all-per-order", "consumers-named"]):
        shown = row(name)
        assert cells[FlowMode.COMMAND][index] in shown and cells[FlowMode.EVENT][index] in shown, name
        assert shown.index(cells[FlowMode.COMMAND][index]) < shown.index(cells[FlowMode.EVENT][index]), name
    stored_cells = re.findall(r'<td class="number">(\d+)</td>', row("stored-events"))
    assert stored_cells == [cells[FlowMode.COMMAND][4], cells[FlowMode.EVENT][4]]

    waiting = DeadLetter.objects.filter(retried_at__isnull=True).count()
    assert f">{DeadLetter.objects.count()} dead letter" in page and f">{waiting} not retried</a>" in page
    stored, streams = EventRecord.objects.count(), EventRecord.objects.values("stream_id").distinct().count()
    assert f">{stored} events in {streams} stream" in page

    # The lesson's two tables, every row as the evidence package measured it.
    lessons = comparison_tables()
    assert [len(lesson.rows) for lesson in lessons] == [6, 6]
    for lesson in lessons:
        for measured in lesson.rows:
            shown = table_row(page, f'id="lesson-row-{measured.slug}"')
            for text in (measured.aspect, measured.command.value, measured.event.value):
                assert escape(text) in shown, (measured.slug, text)


def test_the_index_links_lead_to_filtered_lists(staff: Client, recorded: RecordingTransport, catalog: None) -> None:
    from lesson.walkthrough.scenarios import place

    order = place(ADA, FlowMode.COMMAND)
    DeadLetter.objects.create(consumer="fraud", source="fraud.events", reason="boom", raw="{}")
    retried = DeadLetter.objects.create(consumer="fraud", source="fraud.events", reason="old", raw="{}")
    DeadLetter.objects.filter(pk=retried.pk).update(retried_at=order.placed_at)
    page = staff.get(reverse("admin:index")).content.decode()
    links = {name: href for href, name in re.findall(r'<a href="([^"]+)" id="summary-([a-z-]+)"', page)}

    def listed(url: str) -> set[object]:
        response = staff.get(url)
        assert response.status_code == 200, url
        return {obj.pk for obj in response.context["cl"].result_list}

    assert listed(links["dead-letters"]) == set(DeadLetter.objects.values_list("pk", flat=True))
    assert listed(links["dead-letters-waiting"]) == set(
        DeadLetter.objects.filter(retried_at__isnull=True).values_list("pk", flat=True)
    )
    assert len(listed(links["dead-letters-waiting"])) == 1
    assert listed(links["event-store"]) == set(EventRecord.objects.values_list("pk", flat=True))
    hrefs = {
        name: re.findall(r'<a href="([^"]+)">', table_row(page, f'id="summary-{name}"'))
        for name in ("orders", "latest")
    }
    (command_orders, event_orders), (log_link,) = hrefs["orders"], hrefs["latest"]
    assert listed(command_orders) == {order.pk} and listed(event_orders) == set()
    assert listed(log_link) == set(MessageLog.objects.filter(correlation_id=str(order.id)).values_list("pk", flat=True))


# --- who may see it ----------------------------------------------------------------------------


def test_only_staff_reach_the_summary_retry_and_rebuild(catalog: None) -> None:
    letter = DeadLetter.objects.create(consumer="fraud", source="fraud.events", reason="boom", raw="{}")
    urls = [
        reverse("admin:index"),
        reverse("admin:shop_deadletter_changelist"),
        reverse("admin:readmodel_ordersummary_changelist"),
    ]
    anonymous = Client()
    shopper = Client()
    shopper.force_login(User.objects.create_user("shopper", "shopper@example.com", "pw-12345"))
    for client in (anonymous, shopper):
        for url in urls:
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith(reverse("admin:login")), url
        rebuild = client.post(reverse("admin:readmodel_ordersummary_rebuild"))
        assert rebuild.status_code == 302 and rebuild["Location"].startswith(reverse("admin:login"))
        retry = client.post(urls[1], {"action": "retry_selected", "_selected_action": [letter.pk]})
        assert retry.status_code == 302 and retry["Location"].startswith(reverse("admin:login"))
    assert DeadLetter.objects.get().retried_at is None

    # Staff without permissions see the index, not the figures counted from the orders.
    intern = Client()
    user = User.objects.create_user("intern", "intern@example.com", "pw-12345", is_staff=True)
    intern.force_login(user)
    page = intern.get(reverse("admin:index")).content.decode()
    assert 'id="mode-comparison"' not in page
    user.user_permissions.add(Permission.objects.get(codename="view_order"))
    intern.force_login(User.objects.get(pk=user.pk))  # a fresh user: permissions are cached per object
    page = intern.get(reverse("admin:index")).content.decode()
    assert 'id="mode-comparison"' in page
    assert 'id="summary-dead-letters"' not in page  # no link to a list it may not open
