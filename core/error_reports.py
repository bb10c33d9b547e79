"""Django's error reports (the DEBUG page, the e-mails ``mail_admins`` sends) without credentials.

Django hides settings whose *name* looks secret (``SECRET_KEY``, ``DATABASES[...]["PASSWORD"]``),
but ``CELERY_BROKER_URL`` carries its password inside the value: ``amqp://user:pw@host//``.
This filter also masks the password of any URL-shaped setting value, as Celery's banner does.
"""

from __future__ import annotations

from typing import Any

from django.views.debug import SafeExceptionReporterFilter
from kombu.utils.url import maybe_sanitize_url


class CredentialMaskingFilter(SafeExceptionReporterFilter):
    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, str) and "://" in cleansed and "@" in cleansed:
            return maybe_sanitize_url(cleansed)
        return cleansed
