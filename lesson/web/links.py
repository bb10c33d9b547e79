"""Where the page sends a learner in the admin. URLs only: the admin itself enforces staff login."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode

from django.contrib.admin.utils import quote
from django.urls import reverse


def order_change(order_id: object) -> str:
    return reverse("admin:orders_order_change", args=[quote(str(order_id))])


def orders_by_mode(mode: str) -> str:
    return f"{reverse('admin:orders_order_changelist')}?{urlencode({'mode__exact': mode})}"


def message_log(correlation_id: str) -> str:
    """The message log filtered to one order: every message it caused, in either mode."""
    return f"{reverse('admin:shop_messagelog_changelist')}?{urlencode({'correlation_id': correlation_id})}"


def dead_letters(message_ids: Iterable[str] = ()) -> str:
    """All dead letters, or only those of the given messages."""
    url = reverse("admin:shop_deadletter_changelist")
    ids = sorted(set(message_ids))
    return f"{url}?{urlencode({'message_id__in': ','.join(ids)})}" if ids else url
