"""The Django project and the messaging core shared by every service app.

Importing the Celery app here makes ``@shared_task`` and ``celery -A shop`` find it.
"""

from shop.celery import app as celery_app

__all__ = ("celery_app",)
