"""The Celery app. Configuration comes from Django settings (``CELERY_*``).

It is installed for the adapter and the operations (``messaging.celery_adapter.current``); the
messaging app's ``ready()`` (messaging/bootstrap.py) adds the event consumer step and the tasks.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import click
from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger
from django.conf import settings

from core.logs import use_our_format
from messaging.celery_adapter import current
from messaging.celery_adapter.queue_types import AMQP_CLASS

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

# AMQP_CLASS: on a quorum vhost, the command queues Celery creates carry the app's queue
# arguments (messaging/celery_adapter/queue_types.py); elsewhere it is Celery's own.
app = Celery("shop", amqp=AMQP_CLASS)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.user_options["worker"].add(
    click.Option(
        ("--subscribers",),
        default="",
        help="Comma-separated services whose <service>.events queue this worker consumes ('all' for every one).",
    )
)
current.install(app)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _celery_logs_in_our_format(logger: logging.Logger, **_: Any) -> None:
    """Celery's own lines (task received, succeeded, failed) in DJANGO_LOG_FORMAT too.

    The worker does not hijack the root logger (``CELERY_WORKER_HIJACK_ROOT_LOGGER``), so its
    lines reach our root handler; a handler Celery adds anyway gets our formatter here."""
    use_our_format(logger, settings.SHOP_LOG_FORMAT)
