"""Errors are visible (issue 14): a traceback on stderr, with the request path or the message's ids.

- The web process: an unhandled exception in a view is logged on ``django.request`` with its
  traceback and path.
- A worker: a handler's final failure, and an unexpected error around a delivery, are ERRORs
  with the traceback, the message id and the correlation id.
- ``DJANGO_LOG_FORMAT=json``: one JSON object per line, from a real ``manage.py`` process too.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.utils.log import ColorFormatter
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path

from catalog.models import Customer, Product
from core.logs import (
    JsonLineFormatter,
    MessageContextFilter,
    TextFormatter,
    log_format_from_env,
    message_context,
    use_our_format,
)
from core.models import DeadLetter
from messaging.celery_adapter import worker
from messaging.kernel.consuming import deliver_event
from messaging.kernel.retry import DEFAULT_RETRY
from messaging.operations import faults
from tests.fakes import RecordingTransport
from tests.unit.test_consuming import placed_event

ROOT = Path(__file__).resolve().parents[2]


def broken_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the view broke")


urlpatterns = [path("boom/", broken_view)]


class Records(logging.Handler):
    """Keeps what reaches it, through the same filter as the console handler."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(MessageContextFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def errors(self, name: str) -> list[logging.LogRecord]:
        return [r for r in self.records if r.levelno >= logging.ERROR and r.name.startswith(name)]


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    loggers = [logging.getLogger(name) for name in ("shop", "django.request")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


def record_with(exc: BaseException, **fields: Any) -> logging.LogRecord:
    try:
        raise exc
    except type(exc):
        exc_info = sys.exc_info()
    record = logging.LogRecord("shop.messaging", logging.ERROR, __file__, 1, "it failed: %s", ("badly",), exc_info)
    record.__dict__.update(fields)
    return record


# --- the web process ----------------------------------------------------------------------------


@override_settings(ROOT_URLCONF=__name__)
def test_an_unhandled_exception_in_a_view_is_logged_with_its_traceback_and_path(records: Records) -> None:
    response = Client(raise_request_exception=False).get("/boom/?x=1")

    assert response.status_code == 500
    [record] = records.errors("django.request")
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert "/boom/" in record.getMessage()
    line = json.loads(JsonLineFormatter().format(record))
    assert line["path"] == "/boom/"
    assert "the view broke" in line["traceback"]
    assert "request" not in line, "the request object is not a JSON field"


# --- a worker -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_handlers_final_failure_is_an_error_with_traceback_and_the_message_ids(
    recorded: RecordingTransport, catalog: None, records: Records
) -> None:
    faults.inject("inventory", "order.placed", error="disk on fire")
    products = {p.sku: p for p in Product.objects.all()}
    event = placed_event(products, Customer.objects.get(email="ada@example.com").pk)

    deliver_event("inventory", event.to_wire(), queue="inventory.events")

    assert DeadLetter.objects.get().message_id == str(event.id)
    [error] = records.errors("shop.messaging")
    assert error.exc_info is not None and "disk on fire" in str(error.exc_info[1])
    assert f"attempt {DEFAULT_RETRY.max_attempts}/{DEFAULT_RETRY.max_attempts}" in error.getMessage()
    assert (error.message_id, error.correlation_id) == (str(event.id), event.correlation_id)  # type: ignore[attr-defined]
    assert "disk on fire" in TextFormatter().format(error)
    assert f"correlation_id={event.correlation_id}" in TextFormatter().format(error)
    dead = [r for r in records.records if r.getMessage().startswith("dead-lettered")]
    assert dead and dead[0].correlation_id == event.correlation_id  # type: ignore[attr-defined]


class FakeMessage:
    acked = requeued = False

    def ack(self) -> None:
        self.acked = True

    def requeue(self) -> None:
        self.requeued = True


@pytest.mark.django_db(transaction=True)
def test_an_unexpected_error_around_a_delivery_is_logged_with_the_message_ids(
    records: Records, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(service: str, raw: object, *, queue: str) -> None:
        raise KeyError("the core broke")

    monkeypatch.setattr(worker, "deliver_event", broken)  # the worker's name for it
    body = {"id": "m-1", "type": "order.placed", "correlation_id": "order-1", "causation_id": "cause-1"}
    message = FakeMessage()

    worker.on_event_message("inventory", "inventory.events", body, message)  # type: ignore[arg-type]

    assert message.acked and DeadLetter.objects.get().reason.startswith("unexpected error: KeyError")
    [error] = records.errors("shop.messaging")
    assert error.exc_info is not None and isinstance(error.exc_info[1], KeyError)
    fields = {k: getattr(error, k, None) for k in ("message_id", "correlation_id", "causation_id", "consumer")}
    expected = {"message_id": "m-1", "correlation_id": "order-1", "causation_id": "cause-1", "consumer": "inventory"}
    assert fields == expected


# --- the formats --------------------------------------------------------------------------------


def test_a_json_line_carries_the_ids_and_the_traceback_on_one_line() -> None:
    record = record_with(ValueError("no\nway"))
    with message_context({"id": "m-2", "correlation_id": "order-2", "causation_id": "m-1"}, consumer="fraud"):
        MessageContextFilter().filter(record)

    text = JsonLineFormatter().format(record)

    assert "\n" not in text
    line = json.loads(text)
    assert line["level"] == "ERROR" and line["logger"] == "shop.messaging"
    assert line["message"] == "it failed: badly"
    assert (line["correlation_id"], line["causation_id"], line["message_id"]) == ("order-2", "m-1", "m-2")
    assert line["traceback"].startswith("Traceback") and "ValueError: no\nway" in line["traceback"]
    assert line["time"]


def test_outside_a_message_a_line_has_no_ids() -> None:
    record = record_with(ValueError("x"))
    MessageContextFilter().filter(record)

    line = json.loads(JsonLineFormatter().format(record))
    assert "correlation_id" not in line and "message_id" not in line
    assert "[" not in TextFormatter().format(record).splitlines()[0]


def test_an_invalid_log_format_names_the_variable() -> None:
    assert log_format_from_env(None) == "text"
    assert log_format_from_env(" JSON ") == "json"
    with pytest.raises(ImproperlyConfigured, match="DJANGO_LOG_FORMAT"):
        log_format_from_env("yaml")


def test_celerys_own_handlers_get_our_format_and_a_test_runners_do_not() -> None:
    logger = logging.getLogger("tests.celery-like")
    celerys, others = logging.StreamHandler(), logging.StreamHandler()
    celerys.setFormatter(ColorFormatter("%(message)s"))
    logger.handlers = [celerys, others]
    try:
        use_our_format(logger, "json")
    finally:
        logger.handlers = []

    assert isinstance(celerys.formatter, JsonLineFormatter)
    assert any(isinstance(f, MessageContextFilter) for f in celerys.filters)
    assert others.formatter is None and not others.filters


def test_a_management_command_logs_json_lines_on_stderr(tmp_path: Path) -> None:
    script = (
        "import logging\n"
        "from core.logs import message_context\n"
        "with message_context({'id': 'm-3', 'correlation_id': 'order-3'}):\n"
        "    try:\n"
        "        1 / 0\n"
        "    except ZeroDivisionError:\n"
        "        logging.getLogger('shop.check').exception('it broke')\n"
        "logging.getLogger('some.library').warning('through the root logger')\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "shop.settings",
        "DJANGO_SECRET_KEY": "x",
        "DJANGO_LOG_FORMAT": "json",
        "SHOP_VAR_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(line["logger"], line["level"]) for line in lines] == [("shop.check", "ERROR"), ("some.library", "WARNING")]
    assert lines[0]["correlation_id"] == "order-3" and "ZeroDivisionError" in lines[0]["traceback"]
