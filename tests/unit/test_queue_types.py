"""SHOP_QUEUE_TYPE: what each value makes the app declare, per broker (no broker needed here).

The real-broker half (the queues on a quorum vhost really are quorum queues, the suites pass on
them, RabbitMQ dead-letters what it gives up on) is tests/integration/test_quorum_queues.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from celery.utils.quorum_queues import detect_quorum_queues
from django.core.exceptions import ImproperlyConfigured

from messaging.celery_adapter import queue_types
from messaging.celery_adapter.queue_types import (
    DEAD_LETTER_EXCHANGE,
    QUORUM_DELIVERY_LIMIT,
    queue_type_from_env,
    queue_type_of,
)
from messaging.celery_adapter.settings import celery_settings_for
from messaging.celery_adapter.topology import dead_letter_queue, service_queue
from messaging.celery_adapter.transport import producer_app

ROOT = Path(__file__).resolve().parents[2]
AMQP = "amqp://guest:guest@127.0.0.1:5672/shop_quorum"
REDIS = "redis://127.0.0.1:6379/11"
QUORUM_ARGUMENTS = {
    "x-queue-type": "quorum",
    "x-delivery-limit": QUORUM_DELIVERY_LIMIT,
    "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
}


def app_for(url: str, queue_type: str) -> Iterator[Celery]:
    app = producer_app(url, queue_type)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def quorum_app() -> Iterator[Celery]:
    yield from app_for(AMQP, "quorum")


@pytest.fixture
def classic_app() -> Iterator[Celery]:
    yield from app_for(AMQP, "classic")


@pytest.mark.parametrize(("value", "expected"), [(None, "classic"), ("", "classic"), (" Quorum ", "quorum")])
def test_the_variable_defaults_to_classic(value: str | None, expected: str) -> None:
    assert queue_type_from_env(value) == expected


@pytest.mark.parametrize("value", ["stream", "quorom", "classic,quorum"])
def test_any_other_value_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="SHOP_QUEUE_TYPE must be one of"):
        queue_type_from_env(value)


def test_a_process_with_a_bad_value_stops_at_start() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "shop.settings",
        "DJANGO_SECRET_KEY": "x",
        "SHOP_QUEUE_TYPE": "qourum",
    }
    env.pop("DATABASE_URL", None)
    run = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert run.returncode != 0
    assert "ImproperlyConfigured: SHOP_QUEUE_TYPE must be one of ('classic', 'quorum'), not 'qourum'" in run.stderr


def test_classic_declares_no_queue_arguments(classic_app: Celery) -> None:
    assert queue_type_of(classic_app) == "classic"
    assert classic_app.amqp.queues["inventory.reserve"].queue_arguments is None
    assert service_queue("inventory", AMQP, queue_type_of(classic_app)).queue_arguments is None
    assert dead_letter_queue().queue_arguments == {"x-max-length": 10_000}
    assert not detect_quorum_queues(classic_app, "amqp")[0]


def test_quorum_settings_name_celerys_own_options() -> None:
    conf = celery_settings_for(AMQP, "quorum")
    assert conf["CELERY_TASK_CREATE_MISSING_QUEUE_TYPE"] == "quorum"
    assert conf["CELERY_TASK_DEFAULT_QUEUE_TYPE"] == "quorum"
    assert conf["CELERY_WORKER_DETECT_QUORUM_QUEUES"] is True
    (default,) = conf["CELERY_TASK_QUEUES"]
    assert (default.name, default.routing_key, default.durable) == ("celery", "celery", True)
    assert default.queue_arguments == QUORUM_ARGUMENTS


def test_on_quorum_every_work_queue_has_the_same_arguments(quorum_app: Celery) -> None:
    """Command queues (Celery creates them from the router's names, in the worker for -Q and in the
    producer for send_task), the replies queue, the default queue and each service's events queue."""
    assert queue_type_of(quorum_app) == "quorum"
    for name in ["inventory.reserve", "payment.authorize", "orders.replies", "celery"]:
        assert quorum_app.amqp.queues[name].queue_arguments == QUORUM_ARGUMENTS, name
        assert quorum_app.amqp.queues[name].durable, name
    routed = quorum_app.amqp.router.route({}, "inventory.reserve")["queue"]
    assert (routed.name, routed.queue_arguments) == ("inventory.reserve", QUORUM_ARGUMENTS)
    events = service_queue("inventory", AMQP, queue_type_of(quorum_app))
    assert (events.name, events.durable, events.queue_arguments) == ("inventory.events", True, QUORUM_ARGUMENTS)


def test_the_dead_letters_queue_is_quorum_but_dead_letters_nowhere(quorum_app: Celery) -> None:
    queue = dead_letter_queue(queue_type_of(quorum_app))
    assert queue.queue_arguments == {
        "x-max-length": 10_000,
        "x-queue-type": "quorum",
        "x-delivery-limit": QUORUM_DELIVERY_LIMIT,
    }


def test_celery_sees_the_quorum_queues_so_the_worker_uses_no_global_qos(quorum_app: Celery) -> None:
    """Celery's Tasks bootstep turns global QoS off when this finds a quorum queue in the table."""
    assert detect_quorum_queues(quorum_app, "amqp") == (True, "celery")


@pytest.mark.parametrize("url", [REDIS, "rediss://127.0.0.1:6380/0", "memory://"])
def test_redis_and_memory_ignore_the_setting(url: str) -> None:
    assert celery_settings_for(url, "quorum") == celery_settings_for(url, "classic")
    for app in app_for(url, "quorum"):
        assert queue_type_of(app) == "classic"
        assert app.amqp.queues["inventory.reserve"].queue_arguments is None
        assert service_queue("inventory", url, queue_type_of(app)).queue_arguments is None


def test_an_unknown_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown queue type"):
        celery_settings_for(AMQP, "stream")


def test_the_projects_app_builds_its_queue_table_with_the_apps_class() -> None:
    from shop.celery import app

    assert isinstance(app.amqp, queue_types.AMQP)
    assert isinstance(app.amqp.queues, queue_types.Queues)
