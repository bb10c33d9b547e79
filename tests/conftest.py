from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection

from shop.eventstore import triggers
from shop.messaging import bootstrap
from tests.fakes import RecordingTransport


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
