"""The processes of a fault run, and keeping them for the next run that wants the same.

A run needs a stoppable broker (a RabbitMQ vhost of its own, or a private Redis that persists
every write), one worker process per Procfile service and the outbox relay as its own process.
Starting and stopping them took about 7 s a run on this 2-core machine, a quarter of a run, for
nothing the run measures: the kill -9 run restarts its workers itself, and the broker runs stop
and start the broker inside the run. So ``stack`` keeps them after a run that passed, and hands
them to the next run that asks for the same stack (same broker, chaos, extra workers and
environment); the tests are ordered so that such runs follow each other
(tests/faults/conftest.py). Between two runs nothing is in flight (each run settled: every order
final, the outbox empty, every message handled, the broker's queues empty), and the test
database is flushed; a failed run's stack is stopped, never reused (``discard``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest
import redis as redis_py
from celery import Celery
from django.test import override_settings

from messaging import bootstrap
from messaging.celery_adapter.transport import CeleryTransport, producer_app
from messaging.operations.chaos import CHAOS_ENV, DUPLICATE_SHUFFLE
from tests.integration import brokers
from tests.integration.conftest import purge
from tests.integration.workers import LOG_DIR, ROOT, WorkerGroup, database_url, lock_brokers, procfile_workers
from tests.services import in_ci, require_broker

#: Redis hands a killed worker's unacknowledged messages out again after this many seconds.
VISIBILITY_TIMEOUT = 10
#: The relay re-sends a message a caught-up consumer never handled after this many seconds
#: (messaging/operations/redelivery.py): above the visibility timeout, so Redis restores first.
REDELIVER_AFTER = 20
#: The saga deadline for the orders of a run. This tier measures delivery: an order must end
#: confirmed however long the broker was down or the workers dead. With the default deadline
#: (120 s) a long outage would, correctly, time orders out and cancel them; the saga scenarios
#: (tests/integration/test_saga_scenarios.py) test that, not this tier.
SAGA_TIMEOUT = 3600
#: Threads placing orders while the broker is down: each order's fast path first spends ~2 s per
#: message in the publish retries (messaging/celery_adapter/transport.py PUBLISH_RETRY) before giving up.
DOWN_PLACERS = 32


class StoppableBroker(Protocol):
    @property
    def url(self) -> str: ...

    def prepare(self) -> None: ...

    def stop(self) -> None: ...

    def start(self) -> None: ...

    def close(self) -> None: ...


def require_tools(broker: str) -> None:
    """The stoppable broker needs its server tools here, and the shared broker's node running."""
    require_broker(broker)
    tool = "rabbitmqctl" if broker == "amqp" else "redis-server"
    if shutil.which(tool) is None:
        message = f"{tool} is not installed: the {broker} fault runs cannot stop and start a broker"
        if in_ci():
            pytest.fail(f"{message} (CI=true: a missing service is a failure)")
        pytest.skip(message)


# --- Processes ------------------------------------------------------------------------------


@dataclass
class Stack:
    """The worker processes and the outbox relay of one run, on one stoppable broker."""

    broker_name: str
    broker: StoppableBroker
    workers: WorkerGroup
    #: worker name -> the service it runs ("inventory-2" -> "inventory")
    services: dict[str, str] = field(default_factory=dict)
    relay: subprocess.Popen[bytes] | None = None
    app: Celery | None = None
    #: What this stack was started for: a run that asks for the same reuses it (``stack``).
    key: tuple[Any, ...] = ()

    @property
    def url(self) -> str:
        return self.broker.url

    def env(self) -> dict[str, str]:
        """What WorkerGroup.spawn gives a worker; the relay gets the same."""
        return {
            **os.environ,
            **self.workers.extra_env,
            "CELERY_BROKER_URL": self.url,
            "DATABASE_URL": database_url(),
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONPATH": str(ROOT),
        }

    def start(self, extra_workers: dict[str, str]) -> None:
        self.services = {name: name for name in procfile_workers()}
        self.workers.start(timeout=120)
        for name, service in extra_workers.items():
            self.workers.spawn(name, service)
            self.services[name] = service
        self.workers.wait_ready(list(extra_workers), timeout=120)
        log = (LOG_DIR / f"{self.workers.broker}-relay.log").open("wb")
        self.relay = subprocess.Popen(
            [sys.executable, "manage.py", "relay_outbox", "--interval", "0.2"],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill_workers(self) -> list[str]:
        """kill -9 every worker's process group (the main process and its prefork children)."""
        names = list(self.workers.processes)
        for proc in self.workers.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.workers.processes.values():
            proc.wait(timeout=30)
        return names

    def restart_workers(self, names: Sequence[str]) -> None:
        for name in names:
            self.workers.spawn(name, self.services[name])
        self.workers.wait_ready(list(names), timeout=120)

    def stop(self) -> None:
        if self.relay is not None and self.relay.poll() is None:
            os.killpg(self.relay.pid, signal.SIGTERM)
            try:
                self.relay.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.relay.pid, signal.SIGKILL)
                self.relay.wait()
        self.workers.stop()

    def diagnose(self) -> str:
        """Which processes are not running any more, with the end of their logs."""
        dead = {
            name: self.workers.log_path(name)
            for name, proc in self.workers.processes.items()
            if proc.poll() is not None
        }
        if self.relay is None or self.relay.poll() is not None:
            dead["relay"] = LOG_DIR / f"{self.workers.broker}-relay.log"
        if not dead:
            return f"every process is running (logs: {LOG_DIR}/{self.workers.broker}-*.log)"
        return "\n".join(
            f"{name} is not running (exit {self._exit(name)}); end of {path}:\n{log_tail(path, 1500)}"
            for name, path in dead.items()
        )

    def running(self) -> bool:
        """Every worker and the relay still alive: only such a stack is handed to another run."""
        alive = [proc.poll() is None for proc in self.workers.processes.values()]
        return all(alive) and self.relay is not None and self.relay.poll() is None

    def _exit(self, name: str) -> int | None:
        proc = self.relay if name == "relay" else self.workers.processes.get(name)
        return None if proc is None else proc.poll()


def empty_broker(url: str) -> None:
    """Nothing from an earlier run may reach this one: flush the private Redis (queues and its
    unacked hash), or purge every queue of the vhost (its consumers are gone by now)."""
    if url.startswith("redis"):
        redis_py.Redis.from_url(url).flushdb()
        return
    app = producer_app(url)
    try:
        purge(app)
    finally:
        app.close()


def log_tail(path: Path, chars: int = 2000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else f"(no {path})"


@dataclass
class _Kept:
    stack: Stack
    lock: int


#: The stack the last run left running, if any.
_kept: _Kept | None = None


def discard() -> None:
    """Stop the kept stack (the end of the session, a failed run, or a run that wants another)."""
    global _kept
    kept, _kept = _kept, None
    if kept is not None:
        _stop(kept)


def _stop(kept: _Kept) -> None:
    try:
        kept.stack.stop()
    finally:
        if kept.stack.app is not None:
            kept.stack.app.close()
        kept.stack.broker.close()
        os.close(kept.lock)


def _start(
    broker_name: str, name: str, key: tuple[Any, ...], env: dict[str, str], extra_workers: dict[str, str]
) -> _Kept:
    require_tools(broker_name)
    lock = lock_brokers()
    broker: StoppableBroker = brokers.RabbitMQ() if broker_name == "amqp" else brokers.PersistentRedis()
    slug = re.sub(r"[^a-z0-9]+", "-", f"{name} {broker_name}".lower()).strip("-")
    started = Stack(broker_name, broker, WorkerGroup(f"faults-{slug}", broker.url, extra_env=env), key=key)
    kept = _Kept(started, lock)
    try:
        broker.prepare()
        empty_broker(broker.url)
        started.start(extra_workers)
        started.app = producer_app(broker.url)
        # Enough producer connections for the threads that place orders while the broker is down.
        started.app.conf.broker_pool_limit = DOWN_PLACERS + 4
    except BaseException:
        _stop(kept)
        raise
    return kept


@contextlib.contextmanager
def stack(
    broker_name: str,
    *,
    name: str,
    chaos: bool = False,
    extra_workers: dict[str, str] | None = None,
    extra_env: dict[str, str] | None = None,
    keep: bool = True,
) -> Iterator[Stack]:
    """The stoppable broker, the workers and the relay of a run, with this process's buses wired
    to that broker for the run. The broker lock is held while the stack exists.

    ``name`` names the stack's logs, var/test-workers/faults-<name>-<broker>-<worker>.log, which
    stay. ``extra_env`` is set for the stack's processes (the database faults give them persistent
    connections, as in production). With ``keep`` (the default) the run takes a kept stack that
    is the same, and one that ends without an error leaves it running for the next; without it,
    the run starts its own and stops it at the end."""
    global _kept
    env = {
        "SHOP_REDIS_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "SHOP_REDELIVER_AFTER": str(REDELIVER_AFTER),
        **({CHAOS_ENV: DUPLICATE_SHUFFLE} if chaos else {}),
        **(extra_env or {}),
    }
    key = (broker_name, tuple(sorted(env.items())), tuple(sorted((extra_workers or {}).items())))
    if _kept is not None and (not keep or _kept.stack.key != key or not _kept.stack.running()):
        discard()
    kept = _kept if _kept is not None else _start(broker_name, name, key, env, extra_workers or {})
    _kept = None  # it is this run's now; given back below if the run ends well
    # This process places the orders: its outbound (chaos or not) follows the stack's.
    saved = {var: os.environ.get(var) for var in (CHAOS_ENV,)}
    if chaos:
        os.environ[CHAOS_ENV] = DUPLICATE_SHUFFLE
    else:
        os.environ.pop(CHAOS_ENV, None)
    assert kept.stack.app is not None
    bootstrap.configure(transport=CeleryTransport(kept.stack.app))
    ended_well = False
    try:
        with override_settings(SHOP_SAGA_TIMEOUT=SAGA_TIMEOUT):
            yield kept.stack
        ended_well = True
    finally:
        bootstrap.configure()
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        _kept = kept
        if not (keep and ended_well):
            discard()
