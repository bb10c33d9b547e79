"""The event store benchmark's reads: replays on both sides, and the floor beneath them.

Our replay of the whole store by position, folding every stream; the library's notification log
read in pages of the same size (and, as an extra, folded too); single orders replayed on both
sides; a raw driver scan of our table as the floor nothing can beat; the read-model rebuild.
Every read but the rebuild (it writes) is repeated ``REPEATS`` times, interleaved, and its
median rate kept (bench/eventstore.py says why this way).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import statistics
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bench import eventsourcing_baseline as baseline
from bench.eventsourcing_baseline import Timing
from bench.eventstore_workload import note

# The app's modules are imported inside the functions that use them: Django can be set up only
# once the database for the run exists, which ``measure`` (bench/eventstore.py) makes first.

#: Events per read page, for our replay, the library's notification log and the floor alike.
PAGE = baseline.Baseline.log_section_size
#: Read measurements are cheap to repeat: the median of this many.
REPEATS = 3


def measure_replay_all() -> Timing:
    """Fold every stream, reading the whole store once in position order. Counts events."""
    from core.eventstore import store
    from orders.lifecycle import evolve

    states: dict[str, dict[str, Any]] = {}
    count = 0
    started = time.perf_counter()
    for event in store.iter_all(page_size=PAGE):
        states[event.stream_id] = evolve(states.get(event.stream_id, {}), event.type, event.data)
        count += 1
    elapsed = time.perf_counter() - started
    assert all(s["status"] == "shipped" for s in states.values())
    return Timing(count, elapsed)


def measure_replay_streams(streams: Sequence[uuid.UUID]) -> Timing:
    """Replay single orders, as GET /api/orders/{id}/state does: one read per stream. Counts
    events."""
    from core.eventstore import store
    from orders.lifecycle import replay

    count = 0
    started = time.perf_counter()
    for stream in streams:
        events = store.read_stream(str(stream))
        replay((e.type, e.data) for e in events)
        count += len(events)
    return Timing(count, time.perf_counter() - started)


def measure_rebuild() -> Timing:
    """Drop the read model and project the whole store again. Counts events."""
    from readmodel import services as readmodel_services

    started = time.perf_counter()
    report = readmodel_services.rebuild()
    return Timing(report.events, time.perf_counter() - started)


Rows = Iterable[Sequence[Any]]


def scan(execute: Callable[[str, tuple[int, int]], Rows], query: str, decode: Callable[[Any], Any]) -> Timing:
    """Read our table by position, a page at a time, decoding each event's data: the least any
    replay has to do. Counts events."""
    after, count = 0, 0
    started = time.perf_counter()
    while rows := list(execute(query, (after, PAGE))):
        for row in rows:
            decode(row[4])
        after, count = rows[-1][0], count + len(rows)
    return Timing(count, time.perf_counter() - started)


def floor_query(placeholder: str) -> str:
    from core.models import EventRecord

    table = EventRecord._meta.db_table
    return (
        f"SELECT position, stream_id, version, type, data FROM {table} "
        f"WHERE position > {placeholder} ORDER BY position LIMIT {placeholder}"
    )


def measure_floor(database_url: str) -> tuple[str, Timing]:
    """sqlite3 with ``json.loads``; psycopg, which decodes jsonb itself (with ``json.loads``)."""
    from django.conf import settings

    if database_url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(str(settings.DATABASES["default"]["NAME"]))) as lite:
            return "sqlite3 scan", scan(lite.execute, floor_query("?"), json.loads)
    import psycopg

    with psycopg.connect(database_url) as pg:
        return "psycopg scan", scan(pg.execute, floor_query("%s"), lambda data: data)


def median_rate(timings: Sequence[Timing]) -> float:
    return statistics.median(t.rate for t in timings)


def replay_sample(ids: Sequence[uuid.UUID], size: int) -> list[uuid.UUID]:
    """``size`` streams spread evenly over the store: sampled and filled orders alike."""
    step = len(ids) / size
    return [ids[int(i * step)] for i in range(size)]


def read_both(app: baseline.Baseline, database_url: str, streams: Sequence[uuid.UUID]) -> dict[str, Any]:
    """Every read, ``REPEATS`` times, interleaved; the median rate of each."""
    timings: dict[str, list[Timing]] = {}
    floor_kind = ""
    for repeat in range(1, REPEATS + 1):
        note(f"reading, repetition {repeat} of {REPEATS}")
        rounds: dict[str, Callable[[], Timing]] = {
            "replay_all": measure_replay_all,
            "replay_single": lambda: measure_replay_streams(streams),
            "library_read": lambda: baseline.read_all(app),
            "library_read_fold": lambda: baseline.read_all(app, fold=True),
            "library_replay_single": lambda: baseline.replay_aggregates(app, streams),
        }
        for name, measure in rounds.items():
            timings.setdefault(name, []).append(measure())
        floor_kind, floor = measure_floor(database_url)
        timings.setdefault("floor", []).append(floor)
    rates: dict[str, Any] = {name: median_rate(runs) for name, runs in timings.items()}
    rates["floor_kind"] = floor_kind
    return rates
