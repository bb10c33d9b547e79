"""The `make run` stack on PostgreSQL and RabbitMQ under load: no 5xx, no reset, bounded connections.

Tried as a new user would, Django's development server kept one PostgreSQL connection per
request thread and ran the server out of connections: 500s and connection resets under light
load. ``make run`` now serves the web through gunicorn (the Procfile's ``web``: ``WEB_WORKERS``
processes × ``WEB_THREADS`` threads), and each thread keeps at most one persistent connection,
so the web process holds at most workers × threads of them (README, "Sizing the database's
connections").

This test starts the real thing, ``make run`` (migrate, seed, collectstatic, honcho with every
Procfile line), against the test database and a RabbitMQ vhost of its own, then, from this
process, on the loopback:

- 2,000 GETs, 16 at a time, over the API's read endpoints;
- 200 ``POST /api/orders`` at once (released together by a barrier).

It asserts on errors and connections, never on times: every answer is below 500, no connection
was reset or refused, every order answered 201 is stored, and the web process's connections, as
``pg_stat_activity`` shows them while the load runs (sampled every 50 ms), never exceed
``WEB_WORKERS`` × ``WEB_THREADS``.
"""

from __future__ import annotations

import http.client
import itertools
import os
import signal
import threading
import time
import urllib.error
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection

from orders.models import Order
from tests import processes
from tests.e2e.test_make_run import Server, free_port, fresh_env
from tests.integration import brokers
from tests.integration.workers import database_url, lock_brokers

pytestmark = [pytest.mark.integration, pytest.mark.real_brokers, pytest.mark.django_db(transaction=True)]

WEB_WORKERS, WEB_THREADS = 2, 4
GETS, GET_CLIENTS = 2000, 16
POSTS = 200
START_TIMEOUT = 240.0
READ_PATHS = ["/api/products", "/api/customers", "/api/dashboard", "/api/dashboard?status=confirmed"]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Server]:
    if connection.vendor != "postgresql":
        pytest.skip("the load test runs the PostgreSQL deployment")
    lock = lock_brokers()
    broker = brokers.RabbitMQ(vhost="shop-web-load")
    broker.prepare()
    port = free_port()
    (tmp_path / "var").mkdir()
    log = tmp_path / "make-run.log"
    env = fresh_env(
        PORT=str(port),
        SHOP_VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=database_url(),
        CELERY_BROKER_URL=broker.url,
        WEB_WORKERS=str(WEB_WORKERS),
        WEB_THREADS=str(WEB_THREADS),
    )
    process = processes.start(["make", "--no-print-directory", "run", f"PORT={port}"], env=env, log=log)
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _serving(server):
            assert process.poll() is None, f"make run exited ({process.returncode}):\n{server.tail()}"
            assert time.monotonic() < deadline, f"make run did not serve within {START_TIMEOUT:.0f} s:\n{server.tail()}"
            time.sleep(0.5)
        yield server
    finally:
        processes.stop(process, how=signal.SIGINT, timeout=60)  # as Ctrl-C: honcho stops every process
        os.close(lock)


def _serving(server: Server) -> bool:
    try:
        return server.request("GET", "/api/products")[0] == 200
    except OSError:
        return False


class ConnectionSampler(threading.Thread):
    """The web processes' connections in pg_stat_activity, sampled until stopped: the peak."""

    def __init__(self) -> None:
        super().__init__(name="pg-connections", daemon=True)
        self.done = threading.Event()
        self.peak = 0
        self.peak_by_process: Counter[str] = Counter()
        #: Every process of the stack (workers and relay too), for the README's sizing example.
        self.peak_stack: Counter[str] = Counter()

    def run(self) -> None:
        with psycopg.connect(database_url().replace("postgres://", "postgresql://"), autocommit=True) as db:
            while not self.done.wait(0.05):
                every = db.execute(
                    "select application_name, count(*) from pg_stat_activity"
                    " where application_name like 'shop %' group by application_name"
                ).fetchall()
                rows = [(name, count) for name, count in every if name.startswith("shop web ")]
                total = sum(count for _, count in rows)
                if total > self.peak:
                    self.peak, self.peak_by_process = total, Counter(dict(rows))
                if sum(count for _, count in every) > sum(self.peak_stack.values()):
                    self.peak_stack = Counter(dict(every))

    def __enter__(self) -> ConnectionSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.join(timeout=10)


def attempt(server: Server, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[str, Any]:
    """One request: ("status", code) for any HTTP answer, ("error", name) for a broken connection."""
    try:
        status, _, content = server.request(method, path, body)
        return "status", (status, content[:300] if status >= 500 else b"")
    except (ConnectionError, http.client.HTTPException, urllib.error.URLError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        return "error", f"{type(reason).__name__}: {reason}"


def summary(results: list[tuple[str, Any]]) -> tuple[Counter[int], list[str], list[Any]]:
    statuses = Counter(value[0] for kind, value in results if kind == "status")
    errors = [value for kind, value in results if kind == "error"]
    server_errors = [value for kind, value in results if kind == "status" and value[0] >= 500]
    return statuses, errors, server_errors


def test_the_web_process_holds_under_load_with_bounded_connections(stack: Server) -> None:
    customer = stack.json("GET", "/api/customers")[0]["id"]
    product = stack.json("GET", "/api/products")[-1]["id"]
    paths = list(itertools.islice(itertools.cycle(READ_PATHS), GETS))

    with ConnectionSampler() as sampler:
        with ThreadPoolExecutor(GET_CLIENTS) as clients:
            gets = list(clients.map(lambda path: attempt(stack, "GET", path), paths))

        gate = threading.Barrier(POSTS)
        body = {"user_id": customer, "items": [{"product_id": product, "quantity": 1}]}

        def post(i: int) -> tuple[str, Any]:
            gate.wait(timeout=60)
            return attempt(stack, "POST", "/api/orders", {**body, "mode": "command" if i % 2 else "event"})

        with ThreadPoolExecutor(POSTS) as clients:
            posts = list(clients.map(post, range(POSTS)))

    get_statuses, get_errors, get_5xx = summary(gets)
    post_statuses, post_errors, post_5xx = summary(posts)
    report = (
        f"GETs: {dict(get_statuses)}, broken: {len(get_errors)}; POSTs: {dict(post_statuses)}, "
        f"broken: {len(post_errors)}; peak web connections {sampler.peak} {dict(sampler.peak_by_process)}"
    )
    print(f"\n[web load] {report}\n[web load] the whole stack's connections at its peak: {dict(sampler.peak_stack)}")
    assert get_statuses == Counter({200: GETS}), report
    assert not get_errors and not get_5xx, f"{report}\n{get_errors[:5]} {get_5xx[:3]}\n{stack.tail()}"
    assert post_statuses == Counter({201: POSTS}), f"{report}\n{post_errors[:5]} {post_5xx[:3]}\n{stack.tail()}"
    assert Order.objects.count() == POSTS, "every order answered 201 is stored"
    assert 0 < sampler.peak <= WEB_WORKERS * WEB_THREADS, report
    assert len(sampler.peak_by_process) <= WEB_WORKERS, report
    assert max(sampler.peak_by_process.values()) <= WEB_THREADS, report
