"""The web walkthrough's views: the timeline JSON nests by causation, the source viewer stays inside
the repository, and the order POST refuses bad input naming the field (and is CSRF-protected).

No worker runs here: the page's embedded worker is switched off, and orders that are placed go to a
recording transport. The browser tests (tests/e2e/test_browser.py) drive the whole thing live.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from catalog.models import Customer, Product
from core.models import MessageLog
from core.trace import Delivery, Step, causation_tree
from lesson.web import excerpts, timeline, worker
from orders.models import Order
from tests.fakes import RecordingTransport

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_embedded_worker(settings: SettingsWrapper) -> Iterator[None]:
    """These tests never consume messages: the page must not start the in-process worker."""
    settings.SHOP_EMBEDDED_SERVICES = False
    yield
    assert not worker.is_running(), "a view started the embedded worker although it was switched off"


def detail(response: Any) -> list[dict[str, Any]]:
    body = json.loads(response.content)
    assert isinstance(body["detail"], list) and body["detail"], body
    return list(body["detail"])


# --- causation_tree (pure) ----------------------------------------------------------------------


def step(message_id: str, cause: str = "", name: str = "order.placed") -> Step:
    return Step(message_id, name, "event", "orders", "exchange events", 0.0, (), causation_id=cause)


def shape(nodes: list[Any]) -> list[Any]:
    return [(node.step.message_id, shape(list(node.children))) for node in nodes]


def test_steps_nest_under_the_message_that_caused_them_in_their_order() -> None:
    steps = [step("a"), step("b", "a"), step("c", "b"), step("d", "a"), step("e")]
    assert shape(causation_tree(steps)) == [("a", [("b", [("c", [])]), ("d", [])]), ("e", [])]


def test_a_step_whose_cause_is_not_in_the_trace_is_a_root() -> None:
    assert shape(causation_tree([step("b", "not-logged-here"), step("c", "b")])) == [("b", [("c", [])])]


def test_a_causation_loop_still_shows_every_step_once() -> None:
    tree = causation_tree([step("a", "b"), step("b", "a"), step("c", "c")])
    assert shape(tree) == [("c", []), ("a", [("b", [])])]


# --- the timeline JSON --------------------------------------------------------------------------


def an_order(mode: str = "event") -> Order:
    customer = Customer.objects.create(name="Ada Lovelace", email=f"ada-{uuid.uuid4().hex[:6]}@example.com")
    return Order.objects.create(customer=customer, mode=mode, total=Decimal("24.99"))


def log(
    order: Order, message_id: uuid.UUID, name: str, service: str, status: str, cause: str = "", **extra: Any
) -> None:
    kind = "event"
    route = "exchange events" if status == "sent" else f"{service}.events"
    MessageLog.objects.create(
        message_id=message_id, name=name, kind=kind, service=service, route=route, status=status,
        correlation_id=str(order.id), causation_id=cause, **extra,
    )  # fmt: skip


def event_mode_flow(order: Order) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """order.placed -> (inventory) inventory.reserved -> (orders) order.confirmed, as the log records it."""
    placed, reserved, confirmed = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    log(order, placed, "order.placed", "orders", "sent")
    for service in ("inventory", "fraud"):  # payments and the projector have not answered yet
        log(order, placed, "order.placed", service, "handled", duration_ms=12.5, outcome={"did": [f"{service} ok"]})
    log(order, reserved, "inventory.reserved", "inventory", "sent", cause=str(placed))
    log(order, reserved, "inventory.reserved", "orders", "handled", cause=str(placed), duration_ms=3.25)
    log(order, confirmed, "order.confirmed", "orders", "sent", cause=str(reserved))
    log(order, confirmed, "order.confirmed", "analytics", "failed", cause=str(reserved), attempts=3, error="boom")
    return placed, reserved, confirmed


@pytest.mark.django_db
def test_timeline_json_nests_messages_by_causation(client: Client) -> None:
    order = an_order()
    placed, _, confirmed = event_mode_flow(order)

    response = client.get(reverse("walkthrough:timeline", args=[order.id]))
    assert response.status_code == 200
    data = response.json()
    [root] = data["tree"]
    assert (root["name"], root["message_id"], root["caused_by"]) == ("order.placed", str(placed), None)
    assert {d["service"]: d["duration_ms"] for d in root["deliveries"]} == {"fraud": 12.5, "inventory": 12.5}
    # order.placed's other subscriber has not answered: the page shows it as waiting.
    assert root["waiting_on"] == ["payments", "projector"]
    [child] = root["children"]
    assert (child["name"], child["sender"], child["caused_by"]) == ("inventory.reserved", "inventory", str(placed))
    assert [(d["service"], d["status"]) for d in child["deliveries"]] == [("orders", "handled")]
    [grandchild] = child["children"]
    assert (grandchild["name"], grandchild["message_id"]) == ("order.confirmed", str(confirmed))
    [failed] = grandchild["deliveries"]
    assert (failed["service"], failed["status"], failed["attempts"], failed["did"]) == (
        "analytics",
        "failed",
        3,
        "boom",
    )
    assert grandchild["children"] == []
    assert (data["message_count"], data["delivery_count"]) == (3, 4)
    assert data["sent_by"] == {"inventory": 1, "orders": 2}
    assert data["settled"] is False and data["gave_up"] is False
    assert data["order"]["id"] == str(order.id) and data["order"]["mode"] == "event"
    assert data["links"]["order"] == reverse("admin:orders_order_change", args=[str(order.id)])
    assert data["links"]["messages"].endswith(f"?correlation_id={order.id}")
    assert data["links"]["dead_letters"] is None


@pytest.mark.django_db
def test_timeline_settles_once_nothing_is_pending_and_the_log_is_quiet() -> None:
    order = an_order("command")
    reserve = uuid.uuid4()
    MessageLog.objects.create(
        message_id=reserve, name="inventory.reserve", kind="command", service="orders",
        route="queue inventory.reserve", status="sent", correlation_id=str(order.id),
    )  # fmt: skip
    waiting = timeline.order_timeline(order.id, now=timezone.now() + timedelta(seconds=10))
    assert waiting is not None
    assert waiting["settled"] is False
    assert waiting["waiting_for"] == ["inventory.reserve → its handler"]
    assert waiting["tree"][0]["waiting_on"] == ["queue inventory.reserve"]

    MessageLog.objects.create(
        message_id=reserve, name="inventory.reserve", kind="command", service="inventory",
        route="inventory.reserve", status="dead_lettered", correlation_id=str(order.id),
    )  # fmt: skip
    just_now = timeline.order_timeline(order.id)
    assert just_now is not None and just_now["settled"] is False  # not quiet for long enough yet
    later = timeline.order_timeline(order.id, now=timezone.now() + timeline.QUIET)
    assert later is not None and later["settled"] is True and later["waiting_for"] == []
    assert later["links"]["dead_letters"].endswith(f"?message_id__in={reserve}")


@pytest.mark.django_db
def test_timeline_gives_up_when_nothing_ever_arrives() -> None:
    order = an_order()
    data = timeline.order_timeline(order.id, now=order.placed_at + timeline.GIVE_UP)
    assert data is not None
    assert (data["settled"], data["gave_up"], data["tree"]) == (False, True, [])
    assert data["waiting_for"] and "first message" in data["waiting_for"][0]


@pytest.mark.django_db
def test_timeline_of_an_unknown_order_is_a_404_naming_the_id(client: Client) -> None:
    response = client.get(reverse("walkthrough:timeline", args=[uuid.uuid4()]))
    assert response.status_code == 404
    assert detail(response)[0]["loc"] == ["path", "order_id"]


def test_trace_steps_keep_their_defaults_for_older_callers() -> None:
    """Fields added for the web page have defaults: code that builds a Step or Delivery without them works."""
    delivery = Delivery("inventory", "inventory.events", "handled", 1.0, 1, "ok")
    assert delivery.duration_ms is None
    assert step("x").causation_id == "" and Step("y", "n", "event", None, "", None, ()).causation_id == ""


# --- the source viewer --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "../README.md",
        "orders/../../etc/passwd",
        "/etc/passwd",
        "..\\shop\\settings.py",
        ".venv/bin/activate",
        ".git/config",
        "var/shop.sqlite3",
        "orders/__pycache__/models.cpython-311.pyc",
        ".env",
        "",
    ],
)
def test_source_refuses_paths_outside_the_repositorys_source(client: Client, path: str) -> None:
    response = client.get(reverse("walkthrough:source"), {"path": path, "line": "1"})
    assert response.status_code == 400, response.content
    [error] = detail(response)
    assert error["loc"] == ["query", "path"]


def test_source_refuses_a_symlink_that_leaves_the_repository(tmp_path: Path) -> None:
    root, outside = tmp_path / "repo", tmp_path / "secret.py"
    root.mkdir()
    outside.write_text("TOKEN = 'x'\n")
    (root / "innocent.py").symlink_to(outside)
    (root / "fine.py").write_text("x = 1\n")
    with pytest.raises(excerpts.RefusedPath, match="outside the repository"):
        excerpts.checked_path("innocent.py", root=root)
    assert excerpts.checked_path("fine.py", root=root) == (root / "fine.py").resolve()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"path": "shop/urls.py", "line": "0"}, "line"),
        ({"path": "shop/urls.py", "line": "two"}, "line"),
        ({"path": "shop/urls.py"}, "line"),
        ({"path": "shop/urls.py", "line": "5", "end_line": "3"}, "end_line"),
        ({"path": "shop/urls.py", "line": "1", "end_line": "999"}, "end_line"),
    ],
)
def test_source_refuses_bad_line_numbers_naming_the_parameter(
    client: Client, query: dict[str, str], field: str
) -> None:
    response = client.get(reverse("walkthrough:source"), query)
    assert response.status_code == 400, response.content
    assert detail(response)[0]["loc"] == ["query", field]


def test_source_of_a_missing_file_is_a_404(client: Client) -> None:
    response = client.get(reverse("walkthrough:source"), {"path": "orders/no_such_module.py", "line": "1"})
    assert response.status_code == 404
    assert detail(response)[0]["loc"] == ["query", "path"]


def test_source_returns_the_cited_lines_with_context(client: Client) -> None:
    text = (ROOT / "shop" / "urls.py").read_text().splitlines()
    cited = next(n for n, line in enumerate(text, 1) if "walkthrough/" in line)
    response = client.get(
        reverse("walkthrough:source"),
        {"path": "shop/urls.py", "line": str(cited), "end_line": str(cited), "why": "mounts"},
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["location"], data["why"]) == (f"shop/urls.py:{cited}", "mounts")
    by_number = {line["number"]: line for line in data["lines"]}
    assert by_number[cited]["cited"] is True and "walkthrough/" in by_number[cited]["text"]
    assert [n for n, line in by_number.items() if line["cited"]] == [cited]
    assert by_number[cited - 1]["text"] == text[cited - 2]  # context above the cited line


# --- placing an order ---------------------------------------------------------------------------


@pytest.fixture
def catalog_ids(catalog: None) -> tuple[int, int]:
    return Customer.objects.get(email="ada@example.com").pk, Product.objects.get(sku="PROD-A").pk


def post_order(client: Client, body: object) -> Any:
    raw = body if isinstance(body, str) else json.dumps(body)
    return client.post(reverse("walkthrough:place"), raw, content_type="application/json")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"items": [{"product_id": "P", "quantity": 0}]}, ["body", "items", 0, "product_id"]),
        ({"items": [{"product_id": None, "quantity": 1}]}, ["body", "items", 0, "product_id"]),
        ({"quantity": 0}, ["body", "items", 0, "quantity"]),
        ({"quantity": None}, ["body", "items", 0, "quantity"]),
        ({"user_id": None}, ["body", "user_id"]),
        ({"mode": "sideways"}, ["body", "mode"]),
        ({"items": []}, ["body", "items"]),
        ({"surprise": 1}, ["body", "surprise"]),
    ],
)
def test_order_post_refuses_invalid_input_naming_the_field(
    client: Client, catalog_ids: tuple[int, int], change: dict[str, Any], loc: list[Any]
) -> None:
    customer_id, product_id = catalog_ids
    body: dict[str, Any] = {
        "user_id": customer_id,
        "items": [{"product_id": product_id, "quantity": 1}],
        "mode": "event",
    }
    if "quantity" in change:
        body["items"][0]["quantity"] = change.pop("quantity")
    body.update(change)
    response = post_order(client, body)
    assert response.status_code == 422, response.content
    assert loc in [error["loc"] for error in detail(response)]
    assert not Order.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("unknown", "loc"), [("user_id", ["body", "user_id"]), ("product_id", ["body", "items", 0, "product_id"])]
)
def test_order_post_names_an_unknown_customer_or_product(
    client: Client, catalog_ids: tuple[int, int], unknown: str, loc: list[Any]
) -> None:
    customer_id, product_id = catalog_ids
    ids = {"user_id": customer_id, "product_id": product_id, unknown: 999_999}
    response = post_order(
        client, {"user_id": ids["user_id"], "items": [{"product_id": ids["product_id"], "quantity": 1}]}
    )
    assert response.status_code == 422
    [error] = detail(response)
    assert error["loc"] == loc and "999999" in error["msg"]
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_order_post_that_is_not_json_is_a_400(client: Client, catalog_ids: tuple[int, int]) -> None:
    response = post_order(client, "{not json")
    assert response.status_code == 400
    assert detail(response)[0]["loc"] == ["body"]


@pytest.mark.django_db
def test_order_post_without_a_csrf_token_is_refused(catalog_ids: tuple[int, int]) -> None:
    customer_id, product_id = catalog_ids
    body = {"user_id": customer_id, "items": [{"product_id": product_id, "quantity": 1}]}
    response = post_order(Client(enforce_csrf_checks=True), body)
    assert response.status_code == 403
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_order_post_only_accepts_post(client: Client) -> None:
    assert client.get(reverse("walkthrough:place")).status_code == 405


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["command", "event"])
def test_order_post_places_the_order_in_the_chosen_mode(
    client: Client,
    catalog_ids: tuple[int, int],
    recorded: RecordingTransport,
    django_capture_on_commit_callbacks: Any,
    mode: str,
) -> None:
    customer_id, product_id = catalog_ids
    body = {"user_id": customer_id, "items": [{"product_id": product_id, "quantity": 2}], "mode": mode}
    with django_capture_on_commit_callbacks(execute=True):  # messages leave after commit (the outbox)
        response = post_order(client, body)
    assert response.status_code == 201, response.content
    data = response.json()
    order = Order.objects.get(pk=data["order"]["id"])
    assert order.mode == mode and data["order"]["mode"] == mode
    assert data["timeline_url"] == reverse("walkthrough:timeline", args=[order.id])
    first = {"command": "inventory.reserve", "event": "order.placed"}[mode]
    assert first in recorded.names


# --- the page -----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["command", "event"])
def test_page_preselects_the_requested_mode_and_lists_the_catalog(client: Client, catalog: None, mode: str) -> None:
    response = client.get(reverse("walkthrough:page"), {"mode": mode})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'value="{mode}" checked' in html
    assert f'<body data-mode="{mode}">' in html
    assert "csrfmiddlewaretoken" in html
    assert "Ada Lovelace" in html and "PROD-A" in html
    assert reverse("admin:shop_deadletter_changelist") in html


@pytest.mark.django_db
def test_page_falls_back_to_the_configured_mode(client: Client, settings: SettingsWrapper) -> None:
    settings.SHOP_FLOW_MODE = "command"
    html = client.get(reverse("walkthrough:page"), {"mode": "nonsense"}).content.decode()
    assert '<body data-mode="command">' in html


def test_assets_are_served_with_their_type_and_nothing_else(client: Client) -> None:
    script = client.get(reverse("walkthrough:asset", args=["walkthrough.js"]))
    assert script.status_code == 200 and script["Content-Type"].startswith("text/javascript")
    assert b"function" in b"".join(script.streaming_content)  # type: ignore[attr-defined]
    assert client.get(reverse("walkthrough:asset", args=["walkthrough.css"]))["Content-Type"].startswith("text/css")
    assert client.get(reverse("walkthrough:asset", args=["views.py"])).status_code == 404


def test_the_embedded_worker_is_wanted_only_on_memory(settings: SettingsWrapper) -> None:
    settings.SHOP_EMBEDDED_SERVICES = None
    settings.CELERY_BROKER_URL = "memory://"
    assert worker.wanted() is True
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    assert worker.wanted() is False
    settings.SHOP_EMBEDDED_SERVICES = False
    settings.CELERY_BROKER_URL = "memory://"
    assert worker.wanted() is False
    assert worker.ensure_started() is False


# --- the tables fragment ------------------------------------------------------------------------


def test_tables_fragment_links_every_source_span_to_its_excerpt(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rendering, with two rows standing in for the (slow) measurement."""
    from lesson.evidence import tables as measured
    from lesson.evidence.model import Cell, SourceRef, TableRow

    urls = SourceRef("shop/urls.py", 1, 2, "imports the admin & the API")
    rows = [
        TableRow(
            1, "coupling", "Coupling", ("Tight", "Loose"), Cell("Coupled", "AST", (urls,)), Cell("No", "AST"), True
        ),
        TableRow(
            2, "complexity", "Complexity", ("Lower", "Higher"), Cell("1 file", "count"), Cell("6", "count"), False
        ),
    ]
    monkeypatch.setattr(measured, "comparison_tables", lambda root=None: rows)

    response = client.get(reverse("walkthrough:tables"))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="comparison-row"') == 2
    assert 'id="row-coupling"' in html and 'id="row-complexity"' in html
    assert "✓ holds" in html and "✗ does not hold" in html
    assert "imports the admin &amp; the API" in html  # escaped
    [href] = re.findall(r'class="source-link" href="([^"]+)"', html)
    assert ">shop/urls.py:1-2</a>" in html
    excerpt = client.get(unescape(href))
    assert excerpt.status_code == 200
    assert [line["number"] for line in excerpt.json()["lines"] if line["cited"]] == [1, 2]
