"""Which real services the tests can reach, and what to do when one is missing.

Without a service its tier is skipped, with a line saying so. Under ``CI=true`` a missing
service fails the test instead: CI must never go green by skipping.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from urllib.parse import quote, unquote, urlparse

import pytest

REDIS_URL = os.environ.get("SHOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
AMQP_URL = os.environ.get("SHOP_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def quorum_vhost_url(url: str) -> str:
    """The RabbitMQ URL of a vhost of quorum queues beside ``url``'s (a queue's type cannot change,
    so quorum queues need a vhost of their own): ``shop_quorum`` beside ``/``, ``<vhost>_quorum``
    beside any other, so that checkouts with vhosts of their own keep them apart too."""
    parsed = urlparse(url)
    vhost = unquote(parsed.path[1:]) if parsed.path not in ("", "/") else "/"
    name = "shop_quorum" if vhost in ("", "/") else f"{vhost}_quorum"
    return parsed._replace(path="/" + quote(name, safe="")).geturl()


#: RabbitMQ with SHOP_QUEUE_TYPE=quorum (tests/integration/test_quorum_queues.py).
AMQP_QUORUM = "amqp-quorum"
AMQP_QUORUM_URL = quorum_vhost_url(AMQP_URL)

BROKER_URLS = {"memory": "memory://", "redis": REDIS_URL, "amqp": AMQP_URL, AMQP_QUORUM: AMQP_QUORUM_URL}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@cache
def reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or _default_port(parsed.scheme)), 2):
            return True
    except OSError:
        return False


def require_broker(name: str) -> str:
    url = BROKER_URLS[name]
    if name != "memory" and not reachable(url):
        message = f"{name} broker not reachable at {url}"
        if in_ci():
            pytest.fail(f"{message} (CI=true: a missing service is a failure)")
        pytest.skip(message)
    return url


def _default_port(scheme: str) -> int:
    return {"redis": 6379, "amqp": 5672, "postgres": 5432, "postgresql": 5432}.get(scheme, 0)
