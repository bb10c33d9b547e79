"""What every broker measurement stands on: a database, a broker namespace of the bench's own,
and real worker processes: the Procfile's (the app) or the same number running the raw no-op.

The bench never shares a queue or a table with anything else on the machine: PostgreSQL database
``shop_bench`` (dropped and made again per run), Redis database 14 (13 for the producer-cost
namespace), RabbitMQ vhosts ``shop_bench`` and ``shop_bench_producer``. It takes the machine's
broker lock (tests/integration/workers.py) so a test run and a bench run never interleave.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_BENCH_DB = "shop_bench"
REDIS_HOST = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379")
RABBIT_HOST = os.environ.get("BENCH_RABBIT", "amqp://guest:guest@127.0.0.1:5672")
BROKERS = ("redis", "amqp")


def bench_database(name: str = PG_BENCH_DB) -> str:
    """A fresh PostgreSQL database: the workers are separate processes and need a shared one."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
        # An experiment, never the default: BENCH_SYNCHRONOUS_COMMIT=off shows how much of a
        # number is waiting for PostgreSQL to flush each commit to disk (docs/benchmarks.md).
        if os.environ.get("BENCH_SYNCHRONOUS_COMMIT"):
            setting = os.environ["BENCH_SYNCHRONOUS_COMMIT"]
            conn.execute(f"ALTER DATABASE {name} SET synchronous_commit = '{setting}'")
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def setup_django(database_url: str) -> None:
    """Django for this process, on ``database_url``, migrated and seeded."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    call_command("seed_catalog", verbosity=0, stdout=io.StringIO())


@dataclass(frozen=True)
class Namespace:
    """A broker namespace of the bench's own, emptied before use."""

    broker: str
    name: str

    @property
    def url(self) -> str:
        if self.broker == "redis":
            return f"{REDIS_HOST}/{13 if self.name.endswith('producer') else 14}"
        return f"{RABBIT_HOST}/{self.name}"

    def reset(self) -> None:
        """Nothing left from an earlier run: no message, queue or binding."""
        if self.broker == "redis":
            import redis as redis_py

            redis_py.Redis.from_url(self.url).flushdb()
            return
        for args in (
            ["delete_vhost", self.name],
            ["add_vhost", self.name],
            ["set_permissions", "-p", self.name, "guest", ".*", ".*", ".*"],
        ):
            subprocess.run(["rabbitmqctl", *args], capture_output=True, timeout=120, check=args[0] != "delete_vhost")


def namespace(broker: str, purpose: str = "") -> Namespace:
    return Namespace(broker, "shop_bench" + (f"_{purpose}" if purpose else ""))


@contextmanager
def broker_lock() -> Iterator[None]:
    from tests.integration.workers import lock_brokers

    fd = lock_brokers()
    try:
        yield
    finally:
        os.close(fd)


@contextmanager
def producing_to(url: str, *, routes: dict[str, dict[str, str]] | None = None) -> Iterator[None]:
    """This process publishes to ``url``, through the outbox, as the web process would.
    ``routes`` adds command routes (queues) to the app's own."""
    from messaging import bootstrap
    from messaging.celery_adapter.transport import CeleryTransport, producer_app

    app = producer_app(url)
    if routes:
        # Celery's task_routes is a router or a sequence of them (the app's is a sequence since
        # commands are routed by name); a mapping is a router too, asked first here.
        existing = app.conf.task_routes
        app.conf.task_routes = (routes, *(existing if isinstance(existing, (list, tuple)) else [existing]))
    bootstrap.configure(transport=CeleryTransport(app))
    try:
        yield
    finally:
        bootstrap.configure()
        app.close()
