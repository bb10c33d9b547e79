"""The database faults' machinery: the web process, orders over HTTP, and the faults themselves.

The broker faults (tests/faults/run.py) place orders from this process. The database faults
place them as a client does, with ``POST /api/orders`` to the Procfile's web process (gunicorn),
because the web process's connections are among those that fail. A client that gets no answer,
or a 5xx, tries again with the same ``Idempotency-Key``: the order is placed once however often
the request is repeated, and a lost answer costs nothing.

Every process of the stack names its connections (``application_name``, core/process_name.py):
``shop worker inventory-... 907``, ``shop relay 655``, ``shop web 812``. That is how the
terminator finds them, and how it counts, per process, how often it cut them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg

from core.models import MessageLog
from orders.models import Order
from tests.faults.postgres import Cluster
from tests.faults.run import Background, Catalog
from tests.faults.stacks import Stack
from tests.integration.workers import LOG_DIR, ROOT, procfile

#: How long one order may take to be accepted, retries included, before the run fails.
PLACE_DEADLINE = 180.0


# --- the web process ----------------------------------------------------------------------------


def procfile_line(name: str, env: dict[str, str]) -> list[str]:
    """A Procfile line as argv, ``${VAR:-default}`` expanded from ``env``."""
    expanded = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1), m.group(2)), procfile()[name])
    return shlex.split(expanded)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class Web:
    process: subprocess.Popen[bytes]
    url: str
    log: str


@contextmanager
def web_process(stack: Stack, name: str) -> Iterator[Web]:
    """The Procfile's ``web`` (gunicorn), on a free port, against the stack's broker and database."""
    port = free_port()
    env = {**stack.env(), "PORT": str(port)}
    argv = procfile_line("web", env)
    log = LOG_DIR / f"{stack.workers.broker}-web.log"
    process = subprocess.Popen(
        [sys.executable, "-m", *argv],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    web = Web(process, f"http://127.0.0.1:{port}", str(log))
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"{web.url}/api/products"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the web process did not start ({name}):\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield web
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def read_over_http(url: str) -> int:
    """One read through the web process (it queries the database): its status, 0 if refused."""
    try:
        with urllib.request.urlopen(f"{url}/api/products", timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


# --- orders over HTTP ---------------------------------------------------------------------------


@dataclass
class Placing:
    """What the clients saw: orders accepted, and the answers that made them try again."""

    order_ids: list[uuid.UUID] = field(default_factory=list)
    retries: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def place_one(base_url: str, body: bytes, placing: Placing) -> uuid.UUID:
    """POST one order until it is accepted, with the same Idempotency-Key every time."""
    key = str(uuid.uuid4())
    deadline = time.monotonic() + PLACE_DEADLINE
    delay = 0.1
    while True:
        request = urllib.request.Request(
            f"{base_url}/api/orders",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Idempotency-Key": key},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                order_id = uuid.UUID(json.loads(response.read())["id"])
                with placing.lock:
                    placing.accepted += 1
                return order_id
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                raise AssertionError(f"POST /api/orders answered {exc.code}: {exc.read()[:500]!r}") from exc
            reason = f"HTTP {exc.code}"
        except (OSError, urllib.error.URLError) as exc:  # refused, reset, timed out: the server's side
            reason = type(getattr(exc, "reason", exc)).__name__
        with placing.lock:
            placing.retries[reason] += 1
        if time.monotonic() > deadline:
            raise AssertionError(f"an order was not accepted in {PLACE_DEADLINE:.0f}s; last answer: {reason}")
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def place_over_http(
    base_url: str, count: int, *, mode: str, catalog: Catalog, threads: int = 4, placing: Placing | None = None
) -> Placing:
    placing = placing or Placing()
    body = json.dumps(
        {
            "user_id": catalog.customer_id,
            "items": [{"product_id": catalog.product_id, "quantity": catalog.quantity}],
            "mode": mode,
        }
    ).encode()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="client") as pool:
        placing.order_ids += list(pool.map(lambda _: place_one(base_url, body, placing), range(count)))
    return placing


# --- the faults ---------------------------------------------------------------------------------


def role(application_name: str) -> str:
    """``shop worker inventory 907`` -> ``worker inventory``."""
    return application_name.removeprefix("shop ").rsplit(" ", 1)[0]


#: Cut every connection of the stack's processes (not this test's, not the terminator's own).
TERMINATE = (
    "SELECT application_name, pg_terminate_backend(pid) FROM pg_stat_activity"
    " WHERE application_name LIKE 'shop %%' AND application_name <> %s"
)


class Terminator(threading.Thread):
    """Terminates every connection of the stack's processes (``pg_terminate_backend``) every
    ``every`` seconds, and counts per process how many rounds found one to cut. Connections of
    this test process are spared: it only watches."""

    def __init__(self, cluster: Cluster, every: float = 1.0) -> None:
        super().__init__(name="terminator", daemon=True)
        self.cluster = cluster
        self.every = every
        self.rounds: Counter[str] = Counter()
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        mine = f"shop pytest {os.getpid()}"
        try:
            with self.cluster.connect(application_name="fault terminator") as conn:
                while not self.stopping.wait(self.every):
                    cut = conn.execute(TERMINATE, (mine,)).fetchall()
                    self.rounds.update({role(str(name)) for name, done in cut if done})
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def finish(self) -> Counter[str]:
        self.stopping.set()
        self.join(30)
        if self.error is not None:
            raise AssertionError(f"the terminator failed: {self.error!r}") from self.error
        return self.rounds


class Hog:
    """Takes every free connection slot of the server, so that nobody else can connect."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.held: list[psycopg.Connection[tuple[object, ...]]] = []
        self.refused = ""

    def take_all(self, most: int = 500) -> int:
        while len(self.held) < most:
            try:
                self.held.append(self.cluster.connect(application_name="fault hog"))
            except psycopg.OperationalError as exc:
                self.refused = str(exc).strip().splitlines()[-1]
                break
        return len(self.held)

    def cut_the_stack(self) -> int:
        """Terminate the stack's connections, from a slot the hog holds (there is no other)."""
        rows = self.held[0].execute(TERMINATE, (f"shop pytest {os.getpid()}",)).fetchall()
        return sum(1 for _, done in rows if done)

    def release(self) -> None:
        for conn in self.held:
            conn.close()
        self.held.clear()


def when_placed(placing: Placing, count: int, action: Callable[[], None]) -> Background:
    """Run ``action`` in the background once ``count`` orders have been accepted;
    ``finish()`` waits for it and re-raises its error."""

    def wait_then_act() -> None:
        while placing.accepted < count:
            time.sleep(0.05)
        action()

    fault = Background("fault", wait_then_act)
    fault.start()
    return fault


# --- what the run must show ---------------------------------------------------------------------


def slowest_handling(order_ids: Sequence[uuid.UUID]) -> tuple[float, str]:
    """The longest time, in seconds, between a message of these orders being sent and a consumer
    logging its outcome; and which message that was."""
    log = MessageLog.objects.filter(correlation_id__in=[str(pk) for pk in order_ids])
    sent = dict(log.filter(status=MessageLog.Status.SENT).values_list("message_id", "created_at"))
    worst, which = timedelta(0), ""
    for message_id, name, service, handled_at in log.exclude(status=MessageLog.Status.SENT).values_list(
        "message_id", "name", "service", "created_at"
    ):
        if message_id in sent and handled_at - sent[message_id] > worst:
            worst, which = handled_at - sent[message_id], f"{name} -> {service}"
    return worst.total_seconds(), which


def cancelled_by_the_deadline(order_ids: Sequence[uuid.UUID]) -> int:
    cancelled = Order.objects.filter(pk__in=order_ids, status=Order.Status.CANCELLED)
    return cancelled.filter(cancel_reason__startswith="timed out").count()


def dead_processes(processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, int | None]:
    """The processes (by name) whose PID is no longer a running process, with their exit codes."""
    dead = {}
    for name, process in processes.items():
        try:
            os.kill(process.pid, 0)
            alive = process.poll() is None
        except ProcessLookupError:
            alive = False
        if not alive:
            dead[name] = process.poll()
    return dead


def logs_mention(text: str, paths: Sequence[str]) -> list[str]:
    return [path for path in paths if os.path.exists(path) and text in open(path, errors="replace").read()]
