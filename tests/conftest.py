from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection

from core.eventstore import triggers
from messaging import bootstrap
from tests.fakes import RecordingTransport
from tests.faults import postgres as private_postgres
from tests.services import in_ci


@pytest.fixture
def recorded() -> Iterator[RecordingTransport]:
    """Buses wired to a recording transport: nothing reaches a broker."""
    transport = RecordingTransport()
    bootstrap.configure(transport=transport)
    yield transport
    bootstrap.configure()


@pytest.fixture
def catalog(db: None) -> None:
    from catalog.services import seed_catalog

    seed_catalog()


@pytest.fixture(autouse=True)
def _sqlite_flush_can_empty_the_event_store(request: pytest.FixtureRequest) -> Iterator[None]:
    """The event store's triggers refuse DELETE, and Django's test flush on SQLite is DELETE
    (PostgreSQL's is TRUNCATE, which row triggers ignore). Around a transactional test on
    SQLite, reinstall the triggers before it and lift them just for the flush after it."""
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction", False)) or (
        "transactional_db" in request.fixturenames or "live_server" in request.fixturenames
    )
    if not transactional:
        yield
        return
    request.getfixturevalue("_django_db_helper")  # set up first, so torn down (flushed) after us
    if connection.vendor == "sqlite":
        triggers.install(connection)
    yield
    if connection.vendor == "sqlite":
        triggers.uninstall(connection)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> Iterator[None]:
    """With ``SHOP_TEST_PRIVATE_POSTGRES=1`` (``make test-faults``) the session's database lives on
    a PostgreSQL cluster of its own, which the database faults may stop, restart and starve
    (tests/faults/postgres.py): created before the test database, dropped after it."""
    if not private_postgres.wanted():
        yield
        return
    problem = private_postgres.missing_tools()
    if problem is not None:
        if in_ci():
            pytest.fail(f"{problem} (CI=true: a missing service is a failure)")
        pytest.skip(problem)
    cluster = private_postgres.Cluster.create()
    private_postgres.CLUSTER = cluster
    database = settings.DATABASES["default"]
    database["HOST"], database["PORT"], database["USER"], database["PASSWORD"] = (
        "127.0.0.1",
        str(cluster.port),
        "postgres",
        "",
    )
    try:
        yield
    finally:
        private_postgres.CLUSTER = None
        cluster.drop()
