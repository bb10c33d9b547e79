"""The project's Celery app, as the composition root installed it.

``shop/celery.py`` creates the app and installs it here; the adapter and the operations ask
for it here instead of importing ``shop.celery``, which sits above them.
"""

from __future__ import annotations

from celery import Celery

_app: Celery | None = None


def install(app: Celery) -> None:
    global _app
    _app = app


def app() -> Celery:
    if _app is None:
        raise RuntimeError("no Celery app installed: shop/celery.py installs it (DJANGO_SETTINGS_MODULE=shop.settings)")
    return _app
