"""Before and after, in one process: the event store's next steps against the library's baseline.

    python -m bench.eventstore_steps --db sqlite --before 15b87d7
    python -m bench.eventstore_steps --db postgres --before 15b87d7 --rounds 7

Prints one JSON object. Three steps of docs/benchmarks.md ("Where the limits are"), each
measured as old and new code interleaved in rounds (the sides' order turned each round, so that
a change in the machine's load falls on all of them), with the median of the rounds' rates and
their ratios to the library (bench/eventsourcing_baseline.py), written or read alike:

- *append*: whole orders, one ``store.append`` per transaction (as ``store_one_order_per_
  transaction_vs_library`` in bench/eventstore.py) against the library's one save per order.
  "before" is ``core/eventstore/store.py`` at the ``--before`` commit, loaded from git as a
  module of its own (model instances, the fields' preparation); "after" is this tree's, with
  the records returned (the default) and without (``records=False``, the services' appends);
- *placement*: whole orders through the services, six transactions each (as
  ``append_vs_library_write``), against the library step by step: "before" with the
  ``--before`` commit's store, "after_store" with this tree's, and "after_store_and_version_in_
  update" with the prototype of the order's version bumped in the transition's own UPDATE
  (bench/prototypes.py);
- *replay*: the whole store read by position and folded (``measure_replay_all``) against the
  library's notification-log read. "before" is the ``--before`` commit's ``iter_all`` (metadata
  decoded on every read); "after" is this tree's (metadata decoded only when read). The
  library's table is first topped up to as many events as ours.

The database is made for the run: a temp SQLite file, or the PostgreSQL database
``storeproto_steps`` (``--pg-db``), dropped and created, and dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from bench import eventsourcing_baseline as baseline
from bench import stack
from bench.eventsourcing_baseline import Timing
from bench.eventstore_workload import LIFECYCLE, Plan, library_env, note, setup_django, wire_buses
from bench.eventstore_writes import envelopes_for

ROOT = Path(__file__).resolve().parents[1]
Side = Callable[[], Timing]


def before_module(commit: str, path: str, name: str) -> ModuleType:
    """``path`` as it was at ``commit``, imported as ``name`` (beside today's module)."""
    source = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True)
    with tempfile.TemporaryDirectory(prefix="shop-steps-") as folder:
        file = Path(folder) / f"{name}.py"
        file.write_text(source.stdout)
        spec = importlib.util.spec_from_file_location(name, file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


def rounds(sides: dict[str, Side], count: int) -> dict[str, list[float]]:
    """Each side once per round, the order turned by one each round. Rates, per side."""
    names = list(sides)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for turn in range(count):
        for name in names[turn % len(names) :] + names[: turn % len(names)]:
            rates[name].append(sides[name]().rate)
    return rates


def summary(rates: dict[str, list[float]], library: str) -> dict[str, Any]:
    """Medians, and each side's median ratio to the library (per round, then the median)."""
    out: dict[str, Any] = {"rounds": len(rates[library])}
    for name, values in rates.items():
        out[f"{name}_events_per_s"] = round(statistics.median(values), 1)
        if name != library:
            ratios = [mine / theirs for mine, theirs in zip(values, rates[library], strict=True)]
            out[f"{name}_vs_library"] = round(statistics.median(ratios), 3)
    return out


# --- the sides ------------------------------------------------------------------------------------


def appends(app: baseline.Baseline, before: ModuleType, template: list[Any], orders: int) -> dict[str, Side]:
    from django.db import transaction

    from core.eventstore import store

    facts = [(t, {k: v for k, v in d.items() if k != "order_id"}) for t, _, d in template]

    def ours(append: Callable[..., Any], **options: Any) -> Side:
        def side() -> Timing:
            started = time.perf_counter()
            for _ in range(orders):
                stream = str(uuid.uuid4())
                with transaction.atomic():
                    append(stream, envelopes_for(stream, template), expected_version=0, **options)
            return Timing(orders * len(template), time.perf_counter() - started)

        return side

    return {
        "library": lambda: baseline.write_whole_orders(app, [(uuid.uuid4(), facts) for _ in range(orders)], per_save=1),
        "before": ours(before.append),
        "after_records": ours(store.append),
        "after_no_records": ours(store.append, records=False),
    }


def stream_index_appends(app: baseline.Baseline, template: list[Any], orders: int) -> dict[str, Side]:
    """The append with and without an index of ``stream_id``'s own (dropped by migration
    shop/0008: the unique (stream_id, version) pair serves every read by stream). The "with" side
    creates the index before its orders and drops it after, both outside its timing; PostgreSQL
    gets Django's two (the plain one and the LIKE one) as before the migration."""
    from django.db import connection

    from core.eventstore import store

    plain = appends(app, store, template, orders)["after_no_records"]
    table = "shop_eventrecord"
    opclass = " varchar_pattern_ops" if connection.vendor == "postgresql" else None
    statements = [f"CREATE INDEX steps_stream_id ON {table} (stream_id)"]
    if opclass:
        statements.append(f"CREATE INDEX steps_stream_id_like ON {table} (stream_id{opclass})")

    def with_index() -> Timing:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        try:
            return plain()
        finally:
            with connection.cursor() as cursor:
                for name in ("steps_stream_id", "steps_stream_id_like")[: len(statements)]:
                    cursor.execute(f"DROP INDEX {name}")

    library = appends(app, store, template, orders)["library"]
    return {"library": library, "with_stream_index": with_index, "without": plain}


class _BeforeStore:
    """The ``--before`` commit's store where the services call it (it takes no ``records``)."""

    def __init__(self, before: ModuleType) -> None:
        self.before = before

    def append(self, *args: Any, records: bool = True, **options: Any) -> Any:
        return self.before.append(*args, **options)


@contextlib.contextmanager
def before_store(before: ModuleType) -> Iterator[None]:
    from orders.flows import eventing

    today = vars(eventing)["store"]
    setattr(eventing, "store", _BeforeStore(before))  # noqa: B010 (a module's private import, patched)
    try:
        yield
    finally:
        setattr(eventing, "store", today)  # noqa: B010


def placements(app: baseline.Baseline, before: ModuleType, template: list[Any], orders: int) -> dict[str, Side]:
    from bench.eventstore_writes import library_facts, ship_through_services
    from bench.prototypes import version_in_transition

    facts = library_facts(template)

    def through_services(variant: str) -> Side:
        def side() -> Timing:
            patch: contextlib.AbstractContextManager[None] = (
                before_store(before)
                if variant == "before"
                else contextlib.nullcontext()
                if variant == "after"
                else version_in_transition()
            )
            with patch:
                started = time.perf_counter()
                placed = [ship_through_services() for _ in range(orders)]
                timing = Timing(orders * len(LIFECYCLE), time.perf_counter() - started)
            same_as_services(placed[-1])
            return timing

        return side

    return {
        "library": lambda: baseline.write_step_by_step(app, [(uuid.uuid4(), facts) for _ in range(orders)]),
        "before": through_services("before"),
        "after_store": through_services("after"),
        "after_store_and_version_in_update": through_services("prototype"),
    }


def same_as_services(order_id: uuid.UUID) -> None:
    """The order row and its stream as the services leave them, prototype or not."""
    from core.eventstore import store
    from orders.lifecycle import replay
    from orders.models import Order
    from orders.rows import row_state

    order = Order.objects.get(pk=order_id)
    events = store.read_stream(str(order_id))
    assert order.status == "shipped" and order.version == len(events) == len(LIFECYCLE), (order.status, order.version)
    state = replay((e.type, e.data) for e in events)
    assert all(state.get(k) == v for k, v in row_state(order).items() if k in state), (state, row_state(order))


def replays(app: baseline.Baseline, before: ModuleType) -> dict[str, Side]:
    from bench.eventstore_reads import PAGE
    from orders.lifecycle import evolve

    def fold(iter_all: Callable[..., Iterator[Any]]) -> Side:
        def side() -> Timing:
            states: dict[str, dict[str, Any]] = {}
            count = 0
            started = time.perf_counter()
            for event in iter_all(page_size=PAGE):
                states[event.stream_id] = evolve(states.get(event.stream_id, {}), event.type, event.data)
                count += 1
            return Timing(count, time.perf_counter() - started)

        return side

    from core.eventstore import store

    return {"library": lambda: baseline.read_all(app), "before": fold(before.iter_all), "after": fold(store.iter_all)}


@contextlib.contextmanager
def decoded_with(loads: Callable[[Any], Any]) -> Iterator[None]:
    """The store's reads decode JSON with ``loads`` for the duration (the data and, when read,
    the metadata): the prototype of the replay's next step, a faster JSON decoder."""
    import json
    import types

    from core.eventstore import store

    setattr(store, "json", types.SimpleNamespace(loads=loads))  # noqa: B010 (the module's import, patched)
    try:
        yield
    finally:
        setattr(store, "json", json)  # noqa: B010


def json_replays(app: baseline.Baseline) -> dict[str, Side]:
    """The replay with the standard library's ``json`` and with ``orjson``, which the app does not
    depend on: ``pip install orjson`` before this part (a prototype, not a dependency)."""
    try:
        orjson = importlib.import_module("orjson")
    except ImportError as missing:
        raise SystemExit("replay_json needs orjson: pip install orjson") from missing

    sides = replays(app, sys.modules["core.eventstore.store"])
    after = sides["after"]

    def with_orjson() -> Timing:
        with decoded_with(orjson.loads):
            return after()

    return {"library": sides["library"], "after": after, "after_orjson": with_orjson}


def top_up_library(app: baseline.Baseline, template: list[Any]) -> None:
    """As many events in the library's table as in ours, so that both reads read alike."""
    from bench.eventstore_writes import library_facts
    from core.models import EventRecord

    missing = (EventRecord.objects.count() - (app.recorder.max_notification_id() or 0)) // len(template)
    facts = library_facts(template)
    for first in range(0, max(missing, 0), 100):
        batch = [(uuid.uuid4(), facts) for _ in range(min(100, missing - first))]
        baseline.write_whole_orders(app, batch, per_save=100)


# --- the run --------------------------------------------------------------------------------------


@contextlib.contextmanager
def database(db: str, pg_name: str) -> Iterator[str]:
    """A new, empty database for the run, removed afterwards."""
    if db == "sqlite":
        folder = tempfile.mkdtemp(prefix="shop-steps-")
        try:
            yield f"sqlite:///{folder}/steps.sqlite3"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    url = stack.bench_database(pg_name)
    try:
        yield url
    finally:
        from django.db import connections

        connections.close_all()
        import psycopg

        with psycopg.connect(stack.PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    parts = set(args.parts.split(","))
    with database(args.db, args.pg_db) as url:
        setup_django(url, Plan.for_events(6 * 100_000))  # stock for every order the run places
        wire_buses()
        from django.db import connection

        from bench.eventstore_writes import recorded_facts, ship_through_services

        before = before_module(args.before, "core/eventstore/store.py", "store_before")
        result: dict[str, Any] = {"database": connection.vendor, "before": args.before}
        with baseline.opened(library_env(url)) as app:
            template = recorded_facts(ship_through_services())  # also the warm-up
            baseline.write_step_by_step(app, [(uuid.uuid4(), [(t, d) for t, _, d in template])])
            if "append" in parts:
                note(f"append: {args.rounds} rounds of {args.orders} orders per side")
                result["append"] = summary(rounds(appends(app, before, template, args.orders), args.rounds), "library")
            if "stream_index" in parts:
                note(f"stream_index: {args.rounds} rounds of {args.orders} orders per side")
                sides = stream_index_appends(app, template, args.orders)
                result["stream_index"] = summary(rounds(sides, args.rounds), "library")
            if "placement" in parts:
                note(f"placement: {args.rounds} rounds of {args.placed} orders per side")
                sides = placements(app, before, template, args.placed)
                result["placement"] = summary(rounds(sides, args.rounds), "library")
            if "replay" in parts:
                top_up_library(app, template)
                note(f"replay: {args.rounds} rounds")
                result["replay"] = summary(rounds(replays(app, before), args.rounds), "library")
            if "replay_json" in parts:
                top_up_library(app, template)
                note(f"replay_json: {args.rounds} rounds")
                result["replay_json"] = summary(rounds(json_replays(app), args.rounds), "library")
        return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--before", required=True, help="the commit whose core/eventstore/store.py is 'before'")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--orders", type=int, default=300, help="orders per side and round, appends")
    parser.add_argument("--placed", type=int, default=20, help="orders per side and round, placements")
    parser.add_argument("--parts", default="append,placement,replay", help="also: stream_index, replay_json")
    parser.add_argument("--pg-db", default="storeproto_steps")
    args = parser.parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):
        result = measure(args)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
