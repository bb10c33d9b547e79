"""Fixtures for the comparison suite: the same scenario in each mode on each broker.

``memory`` runs the embedded worker (threads in this process); ``redis`` and ``amqp`` run one
real worker process per service, from the Procfile, against the real broker and the test
database. The test process publishes through a producer app for that broker, wired in at the
composition root.

One broker's consumers at a time. Every group runs an outbox relay, and every relay sweeps the
one test database: while the Redis group was still up, its relay now and then claimed a row
that a RabbitMQ test had just committed, before that test's own fast path did, and published it
to Redis, where the Redis group's inventory worker handled it (the "third consumer" of the
competing-consumers test, seen only on a loaded CI machine). So starting one broker's group
stops any other, and the tests are ordered by broker (memory, then Redis, then RabbitMQ) so
each group starts once per run. Tests that use no group run first, with none running.

The real brokers' tests carry the marker ``real_brokers``: ``make test`` runs them in the
PostgreSQL tier, the deployment with several worker processes; the ``memory`` ones run in the
SQLite tier, the embedded default.

``amqp-quorum`` is RabbitMQ again, with ``SHOP_QUEUE_TYPE=quorum`` in every process, on a vhost of
its own that is created empty once per run (a queue's type cannot change). Only the modules that
ask for it run there (``LIVE_BROKERS``, or a test's own parametrization): the comparison suite
and the competing-consumers test (tests/integration/test_quorum_queues.py checks the queues).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from django.conf import settings

from messaging import bootstrap
from messaging.celery_adapter.queue_types import queue_type_of
from messaging.celery_adapter.topology import service_queue
from messaging.celery_adapter.transport import CeleryTransport, producer_app
from messaging.kernel.routing import command_queues
from messaging.kernel.subscriptions import services as subscribing_services
from tests.integration import brokers
from tests.integration.harness import Flow
from tests.integration.workers import WorkerGroup, lock_brokers
from tests.services import AMQP_QUORUM, in_ci, require_broker

MODES = ["command", "event"]
BROKERS = ["memory", "redis", "amqp"]
#: Every broker a test may run on, in the order their groups start (AMQP_QUORUM only where asked for).
ALL_BROKERS = [*BROKERS, AMQP_QUORUM]
REAL_BROKERS = {"redis", "amqp", AMQP_QUORUM}
#: SHOP_QUEUE_TYPE of each broker's processes (and of this process's producer app).
QUEUE_TYPES = {AMQP_QUORUM: "quorum"}

_groups: dict[str, WorkerGroup] = {}
_comparison: dict[str, dict[str, int]] = {}
_lock: list[int] = []
_embedded: dict[str, ExitStack] = {}


def purge(app: Any) -> None:
    """Empty every queue of the app's topology, so no earlier run's messages leak in."""
    with app.connection_for_write() as conn:
        channel = conn.channel()
        queues = [app.amqp.queues[name] for name in sorted(set(command_queues().values()))]
        queues += [service_queue(s, app.conf.broker_url, queue_type_of(app)) for s in subscribing_services()]
        for queue in queues:
            bound = queue(channel)
            bound.declare()
            bound.purge()


def _stop_every_worker(but: str | None = None) -> None:
    """Stop the consumers (and relays) of every broker, except ``but``'s."""
    for name in [name for name in _embedded if name != but]:
        _embedded.pop(name).close()
    for name in [name for name in _groups if name != but]:
        _groups.pop(name).stop()
    if _lock and but not in _groups:
        os.close(_lock.pop())


def broker_of(item: pytest.Item) -> str | None:
    """The broker a test runs on (its ``live_broker`` parameter), or None."""
    callspec = getattr(item, "callspec", None)
    return None if callspec is None else callspec.params.get("live_broker")


def pytest_itemcollected(item: pytest.Item) -> None:
    if broker_of(item) in REAL_BROKERS:
        item.add_marker(pytest.mark.real_brokers)


def _transactional(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    fixtures = getattr(item, "fixturenames", [])
    return bool(marker and marker.kwargs.get("transaction")) or "transactional_db" in fixtures


@pytest.hookimpl(trylast=True)  # after pytest-django has put the transactional tests last
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Among this package's transactional tests: first those without a broker, then memory,
    Redis, RabbitMQ, each in collection order; so each broker's group starts once."""
    here = Path(__file__).parent
    slots = [i for i, item in enumerate(items) if here in item.path.parents and _transactional(item)]
    rank = {broker: n for n, broker in enumerate(ALL_BROKERS, start=1)}
    ordered = sorted((items[i] for i in slots), key=lambda item: rank.get(broker_of(item) or "", 0))
    for i, item in zip(slots, ordered, strict=True):
        items[i] = item


@pytest.fixture(scope="session")
def worker_groups(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, WorkerGroup]]:
    yield _groups
    _stop_every_worker()


@pytest.fixture(autouse=True)
def _only_the_consumers_this_test_asks_for(request: pytest.FixtureRequest) -> None:
    """A test on no broker runs with no group up (their relays would publish its outbox rows)."""
    if "live_broker" not in request.fixturenames:
        _stop_every_worker()


@pytest.fixture(scope="package", autouse=True)
def _stop_every_worker_after_this_package() -> Iterator[None]:
    """The workers and relays started here serve this package only. Left running, they would
    race later tests for their outbox rows: a relay process sweeps the shared test database every
    0.2 s, so now and then it publishes a unit test's message to a real broker before that test's
    own fast path does, and real workers handle it (CI saw an order with four ``order.placed``
    log rows, and an event that never reached the in-process subscriber a test was waiting for).
    The embedded worker likewise keeps consuming the memory broker's queues."""
    yield
    _stop_every_worker()


@pytest.fixture
def live_broker(
    request: pytest.FixtureRequest, worker_groups: dict[str, WorkerGroup], transactional_db: None
) -> Iterator[str]:
    """The broker's workers are running and this process publishes to that broker."""
    broker: str = request.param
    url = require_broker(broker)
    _stop_every_worker(but=broker)
    if broker == "memory":
        from messaging.celery_adapter.embedded import embedded_worker
        from messaging.operations.embedded_services import embedded_relay
        from shop.celery import app

        # Per test: it starts and stops in a fraction of a second (messaging/celery_adapter/memory_transport.py),
        # and it is gone before the test's database is flushed.
        assert settings.CELERY_BROKER_URL.startswith("memory://")
        bootstrap.configure()
        with ExitStack() as stack:
            stack.enter_context(embedded_worker(app))
            stack.enter_context(embedded_relay())
            _embedded[broker] = stack
            try:
                yield broker
            finally:
                _embedded.pop(broker, None)
        return
    queue_type = QUEUE_TYPES.get(broker, "classic")
    app = producer_app(url, queue_type)
    if broker not in worker_groups:
        if not _lock:
            _lock.append(lock_brokers())
        if queue_type != "classic":
            fresh_vhost(url)
        purge(app)
        group = WorkerGroup(broker, url, relay=True, extra_env={"SHOP_QUEUE_TYPE": queue_type})
        group.start()
        worker_groups[broker] = group
    bootstrap.configure(transport=CeleryTransport(app))
    try:
        yield broker
    finally:
        bootstrap.configure()
        app.close()


def fresh_vhost(url: str) -> None:
    """The vhost of ``url``, created empty (rabbitmqctl, as tests/integration/test_redelivery.py)."""
    if shutil.which("rabbitmqctl") is None:
        message = "rabbitmqctl is not installed: cannot create a vhost of the test's own"
        pytest.fail(message) if in_ci() else pytest.skip(message)
    brokers.RabbitMQ(vhost=vhost_of(url)).recreate()


def vhost_of(url: str) -> str:
    return unquote(urlparse(url).path[1:]) or "/"


@pytest.fixture
def flow(request: pytest.FixtureRequest, live_broker: str, catalog: None) -> Flow:
    return Flow(mode=request.param, broker=live_broker)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "flow" in metafunc.fixturenames:
        # A module may run on more brokers than the three (LIVE_BROKERS: the comparison suite on quorum queues).
        metafunc.parametrize("live_broker", getattr(metafunc.module, "LIVE_BROKERS", BROKERS), indirect=True)
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
    _saga_table(terminalreporter)
    if not _comparison:
        return
    terminalreporter.section("mode comparison tests per broker")
    for broker in ALL_BROKERS:
        counts = _comparison.get(broker, {})
        if broker not in BROKERS and not counts:
            continue
        line = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "not run"
        terminalreporter.write_line(f"{broker:>11}: {line}")


def _saga_table(terminalreporter: Any) -> None:
    """The saga scenarios' final states, one row per scenario × style × broker (docs/sagas.md)."""
    import sys

    module = sys.modules.get("tests.integration.test_saga_scenarios")
    rows = getattr(module, "ROWS", [])
    if not rows:
        return
    terminalreporter.section("saga scenarios: final state per style")
    columns = ["scenario", "style", "broker", "order", "stock", "money held", "stock held", "emails"]
    columns += ["reservation", "authorization", "saga"]
    terminalreporter.write_line(" | ".join(columns))
    for row in rows:
        terminalreporter.write_line(" | ".join(str(row[c]) for c in columns))
