"""The fault tier (marker ``faults``) runs on PostgreSQL only: several worker processes write one
database at once, which SQLite (one writer) cannot take. At the end of the session, the table of
runs.

Runs that want the same processes (tests/faults/stacks.py) are ordered next to each other, within
their file, so one stack serves them all: the fault tier's runs in two groups per broker (the
plain faults, then duplicate+shuffle), the database faults in one group per broker (connections
terminated, postgres restart; connection exhaustion starts its own stack each run). A failed
run's stack is stopped rather than handed on, and the last one at the end of the session."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest
from django.conf import settings

from tests.faults import stacks
from tests.faults.report import REPORT, REPORT_PATH, table


@pytest.fixture(autouse=True)
def _postgresql_only(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("faults") is None:
        return  # test_chaos.py: the fault injector's own unit tests run in every tier
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        pytest.skip("the fault tier needs PostgreSQL (DATABASE_URL=postgres://...): SQLite has one writer")


def _params(item: pytest.Item) -> dict[str, Any]:
    return dict(getattr(getattr(item, "callspec", None), "params", {}))


def _stack_group(item: pytest.Item) -> tuple[bool, str]:
    params = _params(item)
    own_stack = params.get("fault") in {"duplicate+shuffle", "connection exhaustion"}
    return own_stack, str(params.get("broker", ""))


@pytest.hookimpl(trylast=True)  # after every other reordering (pytest-django's, the integration package's)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Within each file, group the runs by the stack they want (stable: the order stays otherwise)."""
    for path in {item.path for item in items if "faults" in item.path.parts}:
        slots = [i for i, item in enumerate(items) if item.path == path]
        ordered = sorted((items[i] for i in slots), key=_stack_group)
        for i, item in zip(slots, ordered, strict=True):
            items[i] = item


@pytest.fixture(scope="session", autouse=True)
def _stop_the_kept_stack(django_db_setup: None) -> Iterator[None]:
    """The last run's processes stop before the test database (and its private cluster) goes."""
    yield
    stacks.discard()


def _is_a_run(item: pytest.Item | None) -> bool:
    return item is not None and "faults" in item.path.parts and "mode" in _params(item)


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """The kept stack holds the broker lock: after the last run of a sequence (the next test is
    no fault run, or there is none) it stops, so that the next test (test_broker_outage.py, say)
    can take the lock."""
    if not _is_a_run(nextitem):
        stacks.discard()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """A run that failed may have left anything behind: its stack is never handed on."""
    report = yield
    if report.failed:
        stacks.discard()
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REPORT:
        return
    terminalreporter.section("fault tier: one row per run")
    for line in table(REPORT):
        terminalreporter.write_line(line)
    total = sum(float(row["seconds"]) for row in REPORT)
    terminalreporter.write_line(f"{len(REPORT)} runs, {total:.0f}s placing and settling; written to {REPORT_PATH}")
