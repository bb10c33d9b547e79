"""The dashboard's queries are served by indexes: checked on the plan (EXPLAIN), not on time.

For each filter of GET /api/dashboard, the test builds the queryset the API runs
(``selectors.dashboard(...)[:limit]``, checked to compile to the very SQL the API sends), asks the
database for its plan with ``QuerySet.explain()`` and checks that the plan reads the index that
readmodel/models.py names for that filter, and for the filters whose index also holds the
ORDER BY, that the plan sorts nothing.

A small table hides the question: for a few thousand rows a sequential scan is cheapest, so
PostgreSQL would rightly choose one and the test would learn nothing about the indexes. Inside
the test's transaction the test therefore runs ``SET LOCAL enable_seqscan = off``: the plan then
shows whether an index CAN serve the query (the planner still picks among the indexes by cost).
The table is filled with rows where the searched values are rare, as they are at 100,000 or
1,000,000 orders, and ANALYZEd (as autovacuum would), so the planner chooses among the indexes
from real statistics; the ANALYZE, the rows and the setting all roll back with the transaction.

SQLite has no such setting and needs none (its planner prefers an index that gives the ORDER BY);
its plan lines read ``SEARCH <table> USING INDEX <name> (...)`` or ``SCAN <table> USING INDEX
<name>``, and ``USE TEMP B-TREE FOR ORDER BY`` when it sorts. Two filters are served differently
by the two engines. ``customer=``, a substring match with a leading wildcard: PostgreSQL reads the
trigram index ``summary_customer_trgm``; SQLite has no such index and walks ``summary_newest_first``
until it has ``limit`` matches. ``min_total=``: PostgreSQL reads ``summary_by_total`` for a high
minimum; SQLite (built without STAT4, it guesses that a range keeps a quarter of the rows) prefers
the same ordered walk to a sort, and uses ``summary_by_total`` only when that walk is gone.
With several filters the planner picks, by cost, the index of one of them: any of those passes.

``test_the_check_fails_without_the_index`` drops each index inside the transaction and shows the
same check then fails: the test can fail.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext
from ninja.testing import TestClient

from readmodel import selectors
from readmodel.api import DashboardFilters, router
from readmodel.models import OrderSummary

pytestmark = [pytest.mark.db_engine, pytest.mark.django_db]

#: The API's default page: ``rows[: filters.limit]``.
LIMIT: int = DashboardFilters.model_fields["limit"].default

ROWS = 3000
STATUSES = ["placed", "confirmed", "on_hold", "cancelled", "paid", "packed", "shipped"]
RARE_CUSTOMER = "Zelda Quux"
HIGH_TOTAL = Decimal("20000.00")

NEWEST, STATUS, FLAGGED = "summary_newest_first", "summary_by_status", "summary_flagged_newest_first"
TOTAL, CUSTOMER = "summary_by_total", "summary_customer_trgm"


@dataclass(frozen=True)
class Case:
    """One dashboard request: its query parameters and what its plan must show on each engine."""

    name: str
    params: dict[str, str]
    postgresql: tuple[str, ...]  # the plan reads one of these indexes (one, for a single filter)
    sqlite: tuple[str, ...]
    sorted_by_index: bool  # the index gives the ORDER BY: the plan sorts nothing

    def selector_arguments(self) -> dict[str, Any]:
        """What the API passes to the selector for these parameters (readmodel/api.py)."""
        filters = DashboardFilters(**self.params)  # type: ignore[arg-type]  # the API parses strings
        return {
            "status": filters.status,
            "customer": filters.customer,
            "flagged": filters.flagged,
            "min_total": filters.min_total_amount(),
        }

    def indexes(self) -> tuple[str, ...]:
        return self.postgresql if connection.vendor == "postgresql" else self.sqlite


#: Each filter alone, then combinations: with several filters the planner picks, by cost, any index
#: of one of them and checks the others row by row; what it must not do is scan the table.
CASES = [
    Case("newest first", {}, (NEWEST,), (NEWEST,), sorted_by_index=True),
    Case("status", {"status": "paid"}, (STATUS,), (STATUS,), sorted_by_index=True),
    Case("flagged", {"flagged": "true"}, (FLAGGED,), (FLAGGED,), sorted_by_index=True),
    # Nearly every order: walk the listing's index, skip the few flagged ones.
    Case("not flagged", {"flagged": "false"}, (NEWEST,), (NEWEST,), sorted_by_index=True),
    # SQLite (no STAT4) guesses that a range keeps a quarter of the rows and prefers the ordered walk.
    Case("min_total", {"min_total": str(HIGH_TOTAL)}, (TOTAL,), (NEWEST,), sorted_by_index=False),
    # SQLite has no index for a substring: it walks the listing's index until LIMIT matches.
    Case("customer", {"customer": "zelda"}, (CUSTOMER,), (NEWEST,), sorted_by_index=False),
    Case("status and flagged", {"status": "on_hold", "flagged": "true"}, (STATUS, FLAGGED), (STATUS, FLAGGED), True),
    Case(
        "every filter",
        {"status": "on_hold", "customer": "zelda", "flagged": "true", "min_total": "1"},
        (STATUS, FLAGGED, TOTAL, CUSTOMER),
        (STATUS, FLAGGED, TOTAL),
        sorted_by_index=False,
    ),
]
SINGLE_INDEX_CASES = [case for case in CASES if len(case.postgresql) == len(case.sqlite) == 1]


@pytest.fixture
def many_summaries(db: None) -> Iterator[None]:
    """ROWS summaries where what the cases search for is rare, then ANALYZE and no sequential scan."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    OrderSummary.objects.bulk_create(
        OrderSummary(
            order_id=uuid.uuid4(),
            customer_name=RARE_CUSTOMER if i == ROWS // 2 else f"Customer {i % 97:03d}",
            item_count=1 + i % 5,
            total=HIGH_TOTAL if i % 500 == 0 else Decimal(i % 400) + Decimal("0.99"),
            currency="EUR",
            status=STATUSES[i % len(STATUSES)],
            placed_at=start + timedelta(minutes=i),
            flagged=i % 200 == 0,
        )
        for i in range(ROWS)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {OrderSummary._meta.db_table}")
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
    yield


def the_api_query(case: Case) -> str:
    """The SQL GET /api/dashboard sends for the case's parameters (the lag's queries left out)."""
    with CaptureQueriesContext(connection) as queries:
        response = TestClient(router).get(f"/dashboard?{urlencode(case.params)}")
    assert response.status_code == 200, response.content
    (sql,) = [q["sql"] for q in queries.captured_queries if f'FROM "{OrderSummary._meta.db_table}"' in q["sql"]]
    return sql


def dashboard_queryset(case: Case) -> QuerySet[OrderSummary]:
    """The queryset the API builds: the selector with the parsed filters, then the default page."""
    return selectors.dashboard(**case.selector_arguments())[:LIMIT]


def indexes_read(plan: str) -> list[str]:
    """The indexes a plan reads, in order (PostgreSQL's and SQLite's wording)."""
    if connection.vendor == "postgresql":
        pattern = r"(?:Index Scan|Index Only Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\w+)"
    else:
        pattern = r"USING (?:COVERING )?INDEX (\w+)"
    return re.findall(pattern, plan)


def check_plan(case: Case, plan: str) -> None:
    """The plan reads the case's index, scans no table without one, and sorts only when it must."""
    assert set(case.indexes()) & set(indexes_read(plan)), f"{case.name}: expected {case.indexes()} in:\n{plan}"
    if connection.vendor == "postgresql":
        assert "Seq Scan" not in plan, plan
        sorts = re.search(r"\bSort\b", plan) is not None
    else:
        assert re.search(r"\bSCAN \w+\s*$", plan, re.MULTILINE) is None, f"a full table scan:\n{plan}"
        sorts = "TEMP B-TREE FOR ORDER BY" in plan
    if case.sorted_by_index:
        assert not sorts, f"{case.name}: the index should give the ORDER BY, yet the plan sorts:\n{plan}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_dashboard_filter_is_served_by_its_index(many_summaries: None, case: Case) -> None:
    queryset = dashboard_queryset(case)
    with CaptureQueriesContext(connection) as ours:
        list(queryset)
    assert ours.captured_queries[0]["sql"] == the_api_query(case), "not the query the API sends"
    plan = queryset.explain()
    check_plan(case, plan)


@pytest.mark.parametrize("case", SINGLE_INDEX_CASES, ids=[c.name for c in SINGLE_INDEX_CASES])
def test_the_check_fails_without_the_index(many_summaries: None, case: Case) -> None:
    """Drop the case's index (rolled back with the test's transaction): the same check fails."""
    (index,) = case.indexes()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP INDEX "{index}"')
    plan = dashboard_queryset(case).explain()
    with pytest.raises(AssertionError):
        check_plan(case, plan)
