"""The fault tier (marker ``faults``) runs on PostgreSQL only: several worker processes write one
database at once, which SQLite (one writer) cannot take. At the end of the session, the table of
runs."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

from tests.faults import run


@pytest.fixture(autouse=True)
def _postgresql_only(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("faults") is None:
        return  # test_chaos.py: the fault injector's own unit tests run in every tier
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        pytest.skip("the fault tier needs PostgreSQL (DATABASE_URL=postgres://...): SQLite has one writer")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not run.REPORT:
        return
    terminalreporter.section("fault tier: one row per run")
    for line in run.table(run.REPORT):
        terminalreporter.write_line(line)
    total = sum(float(row["seconds"]) for row in run.REPORT)
    terminalreporter.write_line(
        f"{len(run.REPORT)} runs, {total:.0f}s placing and settling; written to {run.REPORT_PATH}"
    )
