"""Fixtures for the comparison suite: the same scenario in each mode on each broker.

``memory`` runs the embedded worker (threads in this process); ``redis`` and ``amqp`` run one
real worker process per service, from the Procfile, against the real broker and the test
database. The test process publishes through a producer app for that broker, wired in at the
composition root.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from django.conf import settings

from shop.messaging import bootstrap
from shop.messaging.settings import COMMAND_QUEUES
from shop.messaging.subscriptions import services as subscribing_services
from shop.messaging.topology import service_queue
from shop.messaging.transport import CeleryTransport, producer_app
from tests.integration.harness import Flow
from tests.integration.workers import WorkerGroup, lock_brokers
from tests.services import require_broker

MODES = ["command", "event"]
BROKERS = ["memory", "redis", "amqp"]

_groups: dict[str, WorkerGroup] = {}
_comparison: dict[str, dict[str, int]] = {}
_lock: list[int] = []
_embedded: dict[str, ExitStack] = {}


def purge(app: Any) -> None:
    """Empty every queue of the app's topology, so no earlier run's messages leak in."""
    with app.connection_for_write() as conn:
        channel = conn.channel()
        queues = [app.amqp.queues[name] for name in sorted(set(COMMAND_QUEUES.values()))]
        queues += [service_queue(s, app.conf.broker_url) for s in subscribing_services()]
        for queue in queues:
            bound = queue(channel)
            bound.declare()
            bound.purge()


@pytest.fixture(scope="session")
def worker_groups(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, WorkerGroup]]:
    yield _groups
    for stack in _embedded.values():
        stack.close()
    for group in _groups.values():
        group.stop()
    if _lock:
        os.close(_lock.pop())


@pytest.fixture
def live_broker(
    request: pytest.FixtureRequest, worker_groups: dict[str, WorkerGroup], transactional_db: None
) -> Iterator[str]:
    """The broker's workers are running and this process publishes to that broker."""
    broker: str = request.param
    url = require_broker(broker)
    if broker == "memory":
        from shop.celery import app
        from shop.messaging.embedded import embedded_worker

        assert settings.CELERY_BROKER_URL.startswith("memory://")
        bootstrap.configure()
        if broker not in _embedded:
            stack = ExitStack()
            stack.enter_context(embedded_worker(app))
            _embedded[broker] = stack
        yield broker
        return
    app = producer_app(url)
    if broker not in worker_groups:
        if not _lock:
            _lock.append(lock_brokers())
        purge(app)
        group = WorkerGroup(broker, url)
        group.start()
        worker_groups[broker] = group
    bootstrap.configure(transport=CeleryTransport(app))
    try:
        yield broker
    finally:
        bootstrap.configure()
        app.close()


@pytest.fixture
def flow(request: pytest.FixtureRequest, live_broker: str, catalog: None) -> Flow:
    return Flow(mode=request.param, broker=live_broker)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "flow" in metafunc.fixturenames:
        metafunc.parametrize("live_broker", BROKERS, indirect=True)
        metafunc.parametrize("flow", MODES, indirect=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome: Any = yield
    report = outcome.get_result()
    callspec = getattr(item, "callspec", None)
    if callspec is None or "live_broker" not in callspec.params:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        counts = _comparison.setdefault(callspec.params["live_broker"], {})
        counts[report.outcome] = counts.get(report.outcome, 0) + 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _comparison:
        return
    terminalreporter.section("mode comparison tests per broker")
    for broker in BROKERS:
        counts = _comparison.get(broker, {})
        line = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "not run"
        terminalreporter.write_line(f"{broker:>7}: {line}")
