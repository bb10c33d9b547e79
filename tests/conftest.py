from __future__ import annotations

from collections.abc import Iterator

import pytest

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
