"""Log lines that say which message (or request) they are about, as plain text or as JSON.

Why a context variable: a handler's error is logged deep inside the consuming core, by code that
is not handed the envelope (and Django's or Celery's own loggers never are). The consumer sets
``message_context`` around the delivery of one message; ``MessageContextFilter`` copies what it
holds onto every record logged meanwhile, in that thread (each worker thread has its own copy).

``DJANGO_LOG_FORMAT`` picks the format of every process (web, workers, relay, commands): ``text``
(the default, one line plus a traceback) or ``json`` (one JSON object per line, the traceback a
field of it), so that a log collector can search by ``correlation_id``.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

LOG_FORMATS = ("text", "json")

#: What a record carries about the message being handled, when one is.
CONTEXT_FIELDS = ("message_id", "message_type", "correlation_id", "causation_id", "consumer")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("shop_message", default=None)


def log_format_from_env(value: str | None) -> str:
    """``DJANGO_LOG_FORMAT`` checked: a typo must fail at start-up, not log in the wrong format."""
    chosen = (value or "text").strip().lower()
    if chosen not in LOG_FORMATS:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"DJANGO_LOG_FORMAT must be one of {LOG_FORMATS}, not {value!r}")
    return chosen


def context_of(raw: object, *, consumer: str = "") -> dict[str, str]:
    """The ids of a message as received: an envelope is a dict, but a malformed message may
    be anything, and logging must never be the thing that fails on it."""
    fields = {"consumer": consumer} if consumer else {}
    if isinstance(raw, dict):
        for field, key in (
            ("message_id", "id"),
            ("message_type", "type"),
            ("correlation_id", "correlation_id"),
            ("causation_id", "causation_id"),
        ):
            value = raw.get(key)
            if isinstance(value, str | int) and str(value):
                fields[field] = str(value)[:100]
    return fields


@contextmanager
def message_context(raw: object = None, *, consumer: str = "", **fields: str) -> Iterator[None]:
    """Records logged inside carry the ids of ``raw`` (an envelope as received) and ``fields``."""
    merged = {**context_of(raw, consumer=consumer), **{k: v for k, v in fields.items() if v}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, str]:
    return dict(_context.get() or {})


def remember_context(exc: BaseException, fields: dict[str, str]) -> None:
    """Attach the ids of the message ``exc`` was raised on: the code that logs it may run after
    ``message_context`` has been left (the relay logs a failed sweep after its rollback)."""
    if hasattr(exc, "shop_log_context"):
        return
    # An exception type with __slots__ cannot take the attribute: it goes without.
    with contextlib.suppress(AttributeError):
        exc.shop_log_context = fields  # type: ignore[attr-defined]


def remembered_context(exc: BaseException) -> dict[str, str]:
    fields = getattr(exc, "shop_log_context", None)
    return dict(fields) if isinstance(fields, dict) else {}


class MessageContextFilter(logging.Filter):
    """Copies the message being handled onto each record, and a request's path (Django's
    ``django.request`` records carry the request object, which JSON cannot hold)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for field, value in (_context.get() or {}).items():
            if not hasattr(record, field):
                setattr(record, field, value)
        request = getattr(record, "request", None)
        if request is not None and not hasattr(record, "path"):
            record.path = getattr(request, "path", str(request))
        return True


class TextFormatter(logging.Formatter):
    """The plain format, with the message's ids after the message and before any traceback."""

    def __init__(self, fmt: str = TEXT_FORMAT, *args: Any, **kwargs: Any) -> None:
        super().__init__(fmt, *args, **kwargs)

    def formatMessage(self, record: logging.LogRecord) -> str:
        ids = " ".join(
            f"{field}={getattr(record, field)}"
            for field in ("correlation_id", "message_id", "causation_id")
            if getattr(record, field, "")
        )
        line = super().formatMessage(record)
        return f"{line} [{ids}]" if ids else line


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line: time, level, logger, message, the ids, and ``traceback``.

    Any ``extra`` a caller passes becomes a field too (python-json-logger's behaviour), except
    Django's request object, which the filter has already turned into ``path``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger", "exc_info": "traceback"},
            timestamp="time",
            reserved_attrs=[*RESERVED_ATTRS, "request", "color_message"],
            json_ensure_ascii=False,
        )


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonLineFormatter() if log_format == "json" else TextFormatter()


def logging_config(log_format: str, *, shop_level: str = "INFO") -> dict[str, Any]:
    """Django's ``LOGGING``: one stderr handler in the chosen format, for our loggers, Django's
    request errors and everything that reaches the root logger (Celery's and libraries' own
    lines, which a worker raises to its ``--loglevel``)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"message_context": {"()": "core.logs.MessageContextFilter"}},
        "formatters": {
            "text": {"()": "core.logs.TextFormatter"},
            "json": {"()": "core.logs.JsonLineFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["message_context"],
            }
        },
        "root": {"handlers": ["console"], "level": "WARNING"},
        "loggers": {
            "shop": {"handlers": ["console"], "level": shop_level, "propagate": False},
            # A request that ends in a 5xx, with its traceback and path, on stderr (Django's
            # default only mails admins, and there are none).
            "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        },
    }


def use_our_format(logger: logging.Logger, log_format: str) -> None:
    """Give the handlers Celery put on ``logger`` our formatter and filter.

    The root logger already has our handler (``LOGGING``), so Celery adds none there; but its
    task logger (``celery.task``) always gets one of Celery's own. Only Celery's handlers (those
    with its ``ColorFormatter``) are changed: a test runner's capturing handler is left alone.
    """
    from celery.utils.log import ColorFormatter

    for handler in logger.handlers:
        if isinstance(handler.formatter, ColorFormatter):
            handler.setFormatter(formatter_for(log_format))
            handler.addFilter(MessageContextFilter())
