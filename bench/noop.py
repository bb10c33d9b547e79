"""The baseline: a raw Celery no-op task, on the same broker, with the app's serialization and
delivery settings (JSON, late acks, prefetch 1, publisher confirms on RabbitMQ), and the same
worker processes and pool sizes as the Procfile. What the modes reach, divided by what this
reaches, is the cost of the app itself.

Each run of the task records one thing: that it ran, and when (a Redis ``INCR`` and ``RPUSH``
into a database of its own). Without that the benchmark could not tell when the last one finished.
It is the only work the no-op does, and it is far cheaper than any handler of the app.

Workers: ``celery -A bench.noop worker -Q bench.noop`` with ``BENCH_BROKER_URL`` set.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis as redis_py
from celery import Celery

from messaging.celery_adapter.settings import celery_settings_for

QUEUE = "bench.noop"
TASK = "bench.noop"
#: The second baseline: the least a consumer that remembers anything must do per message, one
#: committed INSERT (an inbox row), on a connection kept open, with no ORM. The app's handlers
#: do several such round trips per message; the ratio against this one shows how much of the
#: gap to the no-op is the database (docs/benchmarks.md).
WRITE_TASK = "bench.noop_write"
#: Where the no-op records that it ran; a database no broker namespace of the bench uses.
COUNTER_URL = os.environ.get("BENCH_COUNTER_URL", "redis://127.0.0.1:6379/15")
DONE = "bench:noop:done"
FINISHED_AT = "bench:noop:finished_at"


def make_app(broker_url: str) -> Celery:
    conf = {key.removeprefix("CELERY_").lower(): value for key, value in celery_settings_for(broker_url).items()}
    # Raw Celery: its own consumer and kombu's own transport, not the app's dead-lettering
    # consumer or its Redis transport (which only matters for messages routed to several queues).
    conf.pop("worker_consumer", None)
    conf.pop("broker_transport", None)
    conf["task_routes"] = {TASK: {"queue": QUEUE}, WRITE_TASK: {"queue": QUEUE}}
    conf["task_default_queue"] = QUEUE
    app = Celery("bench-noop", set_as_current=False)
    app.conf.update(broker_url=broker_url, **conf)
    return app


app = make_app(os.environ.get("BENCH_BROKER_URL", "memory://"))
_counter = redis_py.Redis.from_url(COUNTER_URL)


@app.task(name=TASK)
def noop(sent_at: float) -> None:
    finished = time.time()
    with _counter.pipeline(transaction=False) as pipe:
        pipe.incr(DONE)
        pipe.rpush(FINISHED_AT, f"{sent_at} {finished}")
        pipe.execute()


INBOX_DDL = "CREATE TABLE IF NOT EXISTS bench_inbox (message_id uuid PRIMARY KEY, at timestamptz DEFAULT now())"
_db: list[Any] = []


def _database() -> Any:
    if not _db:
        import psycopg

        url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
        _db.append(psycopg.connect(url, autocommit=True))
    return _db[0]


@app.task(name=WRITE_TASK)
def noop_write(sent_at: float, message_id: str) -> None:
    _database().execute("INSERT INTO bench_inbox (message_id) VALUES (%s)", (message_id,))
    noop(sent_at)
