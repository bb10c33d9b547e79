"""The Celery app. Configuration comes from Django settings (``CELERY_*``)."""

from __future__ import annotations

import os

import click
from celery import Celery

from shop.messaging.worker import EventConsumerStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.steps["consumer"].add(EventConsumerStep)
app.user_options["worker"].add(
    click.Option(
        ("--subscribers",),
        default="",
        help="Comma-separated services whose <service>.events queue this worker consumes ('all' for every one).",
    )
)
