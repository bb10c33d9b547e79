"""The scaling section: its seeding writes rows the app reads back as real ones, and the report
shows what the results say. No timing here: the numbers in the report tests are made up."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")

from bench import plots_scaling, scaling, scaling_seed
from bench.report import render_markdown, write_report
from catalog.models import Customer
from core.eventstore import store
from readmodel import selectors, services
from readmodel.models import OrderSummary

PNG = b"\x89PNG\r\n\x1a\n"
LIFECYCLE = ("order.placed", "order.risk_scored", "order.confirmed", "order.paid", "order.packed", "order.shipped")


def _template(user_id: int = 1) -> list[scaling_seed.Recorded]:
    placed = {
        "order_id": "x",
        "user_id": user_id,
        "items": [{"product_id": 1, "quantity": 2, "unit_price": "9.50"}],
        "amount": "19.00",
        "currency": "EUR",
        "placed_at": "2026-01-01T10:00:00+00:00",
        "card_last4": "4242",
    }
    shipped = {"order_id": "x", "carrier": "DHL", "tracking": "T", "shipped_at": "2026-01-02T10:00:00+00:00"}
    return [
        ("order.placed", 3, placed),
        ("order.risk_scored", 1, {"order_id": "x", "risk_score": 0.1}),
        ("order.confirmed", 1, {"order_id": "x"}),
        ("order.paid", 1, {"order_id": "x", "method": "card"}),
        ("order.packed", 1, {"order_id": "x", "warehouse": "W2"}),
        ("order.shipped", 1, shipped),
    ]


@pytest.mark.db_engine
@pytest.mark.django_db
def test_seeded_events_read_back_as_whole_orders_and_rebuild(catalog: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Interleaved, in chunks smaller than the order count: each stream is its own order, in
    version order, with its own id in its data; a rebuild in small batches projects every one."""
    monkeypatch.setattr(scaling_seed, "CHUNK_ORDERS", 3)
    # The catalog's ids, not 1: PostgreSQL does not reset its sequences between tests.
    ada = Customer.objects.get(name="Ada Lovelace")
    assert scaling_seed.seed_events(_template(user_id=ada.pk), 7) == 42
    events = store.read_all(limit=100)
    assert [e.type for e in events[:3]] == ["order.placed"] * 3, "a chunk's orders are interleaved"
    streams = {e.stream_id for e in events}
    assert len(streams) == 7
    for stream in streams:
        stored = store.read_stream(stream)
        assert [e.type for e in stored] == list(LIFECYCLE) and [e.version for e in stored] == [1, 2, 3, 4, 5, 6]
        assert {e.data["order_id"] for e in stored} == {stream} and stored[0].recorded_at.tzinfo is not None
        assert len({e.metadata["message_id"] for e in stored}) == 6
    report = services.rebuild(batch_size=4)
    assert (report.events, report.streams) == (42, 7)
    rows = list(OrderSummary.objects.all())
    assert {str(r.order_id) for r in rows} == streams
    assert {(r.status, r.item_count, str(r.total), r.customer_name) for r in rows} == {
        ("shipped", 1, "19.00", "Ada Lovelace")
    }


@pytest.mark.db_engine
@pytest.mark.django_db
def test_seeded_summaries_are_what_the_dashboard_filters_find() -> None:
    scaling_seed.seed_summaries(0, 20_001)
    assert OrderSummary.objects.count() == 20_001
    zelda = list(selectors.dashboard(customer="zelda"))
    assert len(zelda) == 2 and {r.customer_name for r in zelda} == {scaling_seed.RARE_CUSTOMER}
    assert selectors.dashboard(min_total=scaling_seed.HIGH_TOTAL).count() == 41
    assert 0 < selectors.dashboard(status="on_hold").count() < selectors.dashboard(status="paid").count()
    newest = selectors.dashboard()[0]
    assert newest.placed_at is not None and newest.placed_at.tzinfo is not None


def _entry(replay: list[float], rebuild: list[float]) -> dict[str, Any]:
    sizes = [10_000, 100_000, 1_000_000]
    return {
        "sizes": sizes,
        "store": {
            "points": [
                {
                    "events": n,
                    "replay_events_per_s": r,
                    "rebuild_events_per_s": b,
                    "rebuild_s": n / b,
                    "seed_events_per_s": 90_000.0,
                }
                for n, r, b in zip(sizes, replay, rebuild, strict=True)
            ],
            "replay": scaling.spread(replay),
            "rebuild": scaling.spread(rebuild),
        },
        "dashboard": {
            "filters": {"newest first": {}, "customer": {"customer": "zelda"}},
            "points": [
                {
                    "summaries": n,
                    "filters": {
                        "newest first": {"p95_ms": 0.8, "plan_indexes": ["summary_newest_first"]},
                        "customer": {"p95_ms": n / 1000, "plan_indexes": ["summary_customer_trgm"]},
                    },
                }
                for n in sizes
            ],
        },
    }


@pytest.fixture
def results() -> dict[str, Any]:
    return {
        "scaling": {
            "postgres": _entry([100_000.0, 95_000.0, 90_000.0], [40_000.0, 30_000.0, 20_000.0]),
            "sqlite": _entry([200_000.0, 200_000.0, 190_000.0], [50_000.0, 48_000.0, 45_000.0]),
        }
    }


def _row(markdown: str, first_cell: str) -> list[str]:
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r}")


def test_spread_is_the_slowest_below_the_fastest() -> None:
    assert scaling.spread([100.0, 90.0, 80.0]) == {"spread": 0.2, "flat": True}
    assert scaling.spread([100.0, 50.0]) == {"spread": 0.5, "flat": False}
    assert scaling.spread([]) == {"spread": None, "flat": None}


def test_the_report_shows_the_curves_and_whether_they_stay_flat(results: dict[str, Any]) -> None:
    text = render_markdown(results)
    section = text[text.index("## How cost grows with the data") :]
    assert section.index("### SQLite") < section.index("### PostgreSQL")
    postgres = section[section.index("### PostgreSQL") :]
    assert _row(postgres, "1,000,000") == ["1,000,000", "90,000", "20,000", "50.0", "90,000"]
    assert (
        "Replay: 10% spread, flat (within 20%). Rebuild: 50% spread, not flat (more than 20%; why: "
        "[docs/benchmarks.md](docs/benchmarks.md#how-cost-grows-with-the-data))." in postgres
    )
    assert _row(postgres, "Filter")[1:] == [
        *(f"p95 ms at {n}" for n in ("10,000", "100,000", "1,000,000")),
        "Plan at the largest",
    ]
    assert _row(postgres, "customer") == ["customer", "10.0", "100", "1,000", "summary_customer_trgm"]
    sqlite = section[section.index("### SQLite") : section.index("### PostgreSQL")]
    assert "Rebuild: 10% spread, flat (within 20%)." in sqlite


def test_a_database_not_measured_says_so(results: dict[str, Any]) -> None:
    partial = copy.deepcopy(results)
    del partial["scaling"]["sqlite"]
    section = render_markdown(partial).split("## How cost grows with the data")[1]
    assert "*SQLite: not measured in this run.*" in section and "### PostgreSQL" in section
    assert "## How cost grows with the data" in render_markdown({})


def test_the_plot_is_drawn_and_linked_only_when_measured(results: dict[str, Any], tmp_path: Path) -> None:
    markdown = tmp_path / "BENCHMARKS.md"
    written = write_report(results, markdown=markdown, plots_dir=tmp_path / "png")
    assert [p.name for p in written[1:]] == ["scaling.png"]
    assert written[1].read_bytes().startswith(PNG)
    assert "![Replay, rebuild and dashboard cost vs data size](png/scaling.png)" in markdown.read_text()
    assert plots_scaling.write_plot({"scaling": {"sqlite": {}}}, tmp_path / "none") == {}
