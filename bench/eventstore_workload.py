"""The event store benchmark's workload: how many orders, written how, on which database.

``Plan`` splits the events asked for into orders and the parts they are written in; the
databases are made fresh for each run (a temp SQLite file, or ``shop_bench_es`` dropped and
created), Django is set up on them, and the buses are wired to a broker that is down so that
every message stays in the outbox. Shared by the writes (bench/eventstore_writes.py), the reads
(bench/eventstore_reads.py) and the run that puts them together (bench/eventstore.py, which
says what is measured and why).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench import eventsourcing_baseline as baseline
from bench import stack

# The app's modules are imported inside the functions that use them: Django can be set up only
# once the database for the run exists, which ``measure`` (bench/eventstore.py) makes first.
if TYPE_CHECKING:
    from messaging.kernel.envelope import Envelope

#: Dropped and created by every PostgreSQL run: never point this at a database you keep.
PG_BENCH_DB = "shop_bench_es"
#: Orders in the append sample: one in ``SAMPLE_EVERY``, at least ``MIN_SAMPLE_ORDERS``. The
#: services take tens of milliseconds an order; this keeps the quick run to a few seconds.
SAMPLE_EVERY = 20
MIN_SAMPLE_ORDERS = 20
SAMPLE_STREAMS = 1000
#: The lifecycle every order goes through, as the services record it.
LIFECYCLE = ("order.placed", "order.risk_scored", "order.confirmed", "order.paid", "order.packed", "order.shipped")
QUANTITY = 2


@dataclass(frozen=True)
class Plan:
    """How the orders are written: one warm-up order, then three timed parts, each written to
    both stores the same way (see ``write_both``, bench/eventstore_writes.py)."""

    orders: int
    #: Through the services (ours) and step by step (the library's): the headline append rate.
    sample_orders: int
    #: Whole orders, one transaction (ours) or one save (the library's) each.
    whole_orders: int
    #: The rest, ``FILL_BATCH`` orders per transaction or save.
    batched_orders: int
    sample_streams: int

    @classmethod
    def for_events(cls, events: int) -> Plan:
        orders = events // len(LIFECYCLE)
        if orders < 2:
            raise SystemExit(f"--events must be at least {2 * len(LIFECYCLE)} (a warm-up order and one more)")
        sample = min(orders - 1, max(MIN_SAMPLE_ORDERS, orders // SAMPLE_EVERY))
        whole = min(sample, orders - 1 - sample)
        return cls(
            orders=orders,
            sample_orders=sample,
            whole_orders=whole,
            batched_orders=orders - 1 - sample - whole,
            sample_streams=min(orders, SAMPLE_STREAMS),
        )

    @property
    def events(self) -> int:
        return self.orders * len(LIFECYCLE)


STARTED = time.perf_counter()


def note(message: str) -> None:
    """Progress for whoever watches a long run; stdout carries only the JSON."""
    print(f"[eventstore {time.perf_counter() - STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


# --- The databases ------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(db: str) -> Iterator[str]:
    """A database URL for a new, empty database; a SQLite one is deleted afterwards."""
    if db == "sqlite":
        folder = tempfile.mkdtemp(prefix="shop-bench-es-")
        try:
            yield f"sqlite:///{folder}/bench.sqlite3"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    yield stack.bench_database(PG_BENCH_DB)


def setup_django(database_url: str, plan: Plan) -> None:
    stack.setup_django(database_url)
    from catalog.models import Product

    Product.objects.update(stock=QUANTITY * plan.orders)


class BrokerDown:
    """A transport that never delivers. With the fast path off nothing calls it; were something
    to, the outbox would keep the row, exactly as in an outage."""

    def deliver(self, envelope: Envelope) -> str:
        raise ConnectionError("the benchmark has no broker")


def wire_buses() -> None:
    """At the composition root: the outbox keeps every message, nothing is published."""
    from messaging.bootstrap import configure
    from messaging.kernel.outbound import OutboxDispatch

    outbound = configure(transport=BrokerDown()).outbound
    assert isinstance(outbound, OutboxDispatch)
    outbound.fast_path = False


def library_env(database_url: str) -> dict[str, str]:
    """The library on the same database as ours, in its own table."""
    from django.conf import settings

    if database_url.startswith("sqlite"):
        return baseline.sqlite_env(str(settings.DATABASES["default"]["NAME"]))
    return baseline.postgres_env(database_url)
