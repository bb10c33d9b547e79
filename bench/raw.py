"""The baseline's two numbers: how many no-op tasks per second the broker and Celery move with
the Procfile's worker processes, and how long one no-op takes from send to done.

Both are timed the way the modes are (bench/modes.py): from the first publish to the last
completion, as the workers recorded it, not as this process happened to notice it.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import redis as redis_py
from celery import Celery

from bench import noop
from bench.stats import latency_summary, rate
from tests.integration.workers import WorkerGroup

TIMEOUT = 600.0


def _counter() -> redis_py.Redis:
    return redis_py.Redis.from_url(noop.COUNTER_URL)


def _reset(counter: redis_py.Redis) -> None:
    counter.delete(noop.DONE, noop.FINISHED_AT)


def send(app: Celery, count: int, *, write: bool) -> None:
    with app.producer_or_acquire() as producer:
        for _ in range(count):
            if write:
                app.send_task(noop.WRITE_TASK, args=[time.time(), str(uuid.uuid4())], producer=producer)
            else:
                app.send_task(noop.TASK, args=[time.time()], producer=producer)


def create_inbox() -> None:
    """The table the writing no-op inserts into, in the bench database (bench/noop.py)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(noop.INBOX_DDL)


def throughput(app: Celery, group: WorkerGroup, tasks: int, *, write: bool = False) -> dict[str, Any]:
    """``write``: each task also commits one INSERT, the least a consumer that remembers does."""
    from bench import cpu

    counter = _counter()
    _reset(counter)
    before = cpu.snapshot(group)
    started = time.time()
    send(app, tasks, write=write)
    published = time.time() - started
    deadline = time.monotonic() + TIMEOUT
    while (done := int(counter.get(noop.DONE) or 0)) < tasks:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{done} of {tasks} no-op tasks done after {TIMEOUT:.0f}s")
        time.sleep(0.05)
    spent = cpu.per_message(before, cpu.snapshot(group), tasks)
    finished = max(float(line.split()[1]) for line in counter.lrange(noop.FINISHED_AT, 0, -1))
    seconds = finished - started
    return {
        "tasks": tasks,
        "seconds": round(seconds, 3),
        "tasks_per_s": rate(tasks, seconds),
        "publish_per_s": rate(tasks, published),
        "cpu_ms_per_handled": spent,
    }


def latency(app: Celery, samples: int, *, warmup: int = 10) -> dict[str, Any]:
    """One task at a time, so nothing queues: the round trip of one message through broker and worker."""
    counter = _counter()
    _reset(counter)
    seconds = []
    for i in range(warmup + samples):
        app.send_task(noop.TASK, args=[time.time()])
        popped = counter.blpop([noop.FINISHED_AT], timeout=60)
        if popped is None:
            raise TimeoutError("a no-op task was not done within 60 s")
        sent_at, finished_at = (float(x) for x in popped[1].split())
        if i >= warmup:
            seconds.append(finished_at - sent_at)
    return latency_summary(seconds)
