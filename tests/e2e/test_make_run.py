"""`make run` with nothing but a secret key: one process serves the whole shop.

The README promises that a new user who exports only ``DJANGO_SECRET_KEY`` and types ``make run``
gets a working shop: the embedded ``memory://`` broker, SQLite, and one gunicorn process whose
web worker runs every service and the relay in threads (shop/wsgi.py, messaging/operations/embedded_services.py).
This test does exactly that, in a fresh environment (none of this run's DJANGO_*, CELERY_*,
SHOP_* or DATABASE_URL), with two exceptions that change where, not what: the port, and
``SHOP_VAR_DIR`` so the SQLite file and collected static files land in a temporary directory
instead of the developer's ``var/``. Then, as a client:

- orders placed through ``POST /api/orders`` reach ``confirmed`` in both modes, with no page visit;
- the process tree is gunicorn's master and one worker: no Celery worker process, no relay process;
- no URL redirects to https on 127.0.0.1; the admin, ``/walkthrough/`` and ``/api/docs`` answer,
  and the admin's style sheet is served (collected by ``make run``, served by whitenoise).

A second run adds ``SHOP_SAGA_TIMEOUT`` and a slow issuer so the deadline can be seen to fire
within the test: an order whose payment never answers in time ends cancelled as timed out.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests import processes

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
#: A fixed key for the test's own server; what matters is that it is the only setting.
KEY = "make-run-test-only-k3Yf0r-T3sts_0nly.9bQ2zR7wXp4LmN8vC1sD6hJ0tG5yU3iO7e"
START_TIMEOUT = 180.0
SETTLE_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def fresh_env(**extra: str) -> dict[str, str]:
    """A new user's shell: nothing of this run's project settings, only the secret key."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "CELERY_", "SHOP_", "WEB_")) and k not in {"DATABASE_URL", "PYTHONPATH"}
    }
    if "SHOP_TEST_RUN" in os.environ:  # the leak check's mark (tests/leaks.py), inherited by the processes
        env["SHOP_TEST_RUN"] = os.environ["SHOP_TEST_RUN"]
    env["DJANGO_SECRET_KEY"] = KEY
    env.update(extra)
    return env


class Server:
    def __init__(self, base: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.base, self.process, self.log = base, process, log

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, str], bytes]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        status, _, content = self.request(method, path, body)
        assert status < 300, f"{method} {path}: {status} {content[:500]!r}\n{self.tail()}"
        return json.loads(content)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # a redirect is an answer to check
        return None


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[Any]:
    started: list[subprocess.Popen[bytes]] = []

    def start(**extra: str) -> Server:
        port = free_port()
        var = tmp_path / f"var-{len(started)}"
        var.mkdir()
        log = tmp_path / f"make-run-{len(started)}.log"
        env = fresh_env(PORT=str(port), SHOP_VAR_DIR=str(var), **extra)
        process = processes.start(["make", "--no-print-directory", "run", f"PORT={port}"], env=env, log=log)
        started.append(process)
        server = Server(f"http://127.0.0.1:{port}", process, log)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, f"make run exited ({process.returncode}):\n{server.tail()}"
            try:
                if server.request("GET", "/api/products")[0] == 200:
                    return server
            except OSError:
                pass
            assert time.monotonic() < deadline, f"make run did not serve within {START_TIMEOUT:.0f} s:\n{server.tail()}"
            time.sleep(0.5)

    yield start
    for process in started:
        processes.stop(process, how=signal.SIGINT, timeout=30)  # as Ctrl-C: honcho stops gunicorn


def place(server: Server, mode: str, *, token: str | None = None) -> str:
    customer = server.json("GET", "/api/customers")[0]["id"]
    product = server.json("GET", "/api/products")[0]["id"]
    body: dict[str, Any] = {"user_id": customer, "items": [{"product_id": product, "quantity": 1}], "mode": mode}
    if token is not None:
        body["payment_token"] = token
    return str(server.json("POST", "/api/orders", body)["id"])


def settle(server: Server, order_id: str, final: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        order: dict[str, Any] = server.json("GET", f"/api/orders/{order_id}")
        if order["status"] in final:
            return order
        assert time.monotonic() < deadline, f"order {order_id} still {order['status']}:\n{server.tail()}"
        time.sleep(0.3)


def commands(pid: int) -> list[str]:
    tree = psutil.Process(pid)
    return [" ".join(p.cmdline()) for p in [tree, *tree.children(recursive=True)] if p.is_running()]


def test_make_run_with_only_a_secret_key_serves_the_whole_shop(make_run: Any) -> None:
    server = make_run()

    orders = {mode: place(server, mode) for mode in ("command", "event")}
    for mode, order_id in orders.items():
        order = settle(server, order_id, {"confirmed", "cancelled"})
        assert order["status"] == "confirmed", f"{mode} order: {order}"

    running = commands(server.process.pid)
    gunicorns = [c for c in running if "bin/gunicorn " in c and not c.startswith("/bin/sh")]
    assert len(gunicorns) == 2, f"gunicorn's master and one worker, not {running}"
    assert not [c for c in running if "celery" in c or "relay_outbox" in c], running

    for path in ("/api/products", "/api/docs", "/walkthrough/", "/admin/login/"):
        status, headers, _ = server.request("GET", path)
        assert status == 200, f"GET {path}: {status} {headers.get('Location')}"
    # The admin is styled: its page links the collected (hashed) style sheet, which whitenoise serves.
    _, _, login = server.request("GET", "/admin/login/")
    sheet = re.search(rb'href="(/static/admin/css/base[^"]*\.css)"', login)
    assert sheet is not None, login[:2000]
    status, headers, css = server.request("GET", sheet.group(1).decode())
    assert status == 200 and headers["Content-Type"].startswith("text/css") and b"{" in css, (status, headers)
    status, headers, _ = server.request("GET", "/admin/")
    assert status == 302 and not headers["Location"].startswith("https:"), headers
    assert "embedded broker (memory://): one process" in server.tail()


def test_the_deadline_fires_in_the_one_process_shop(make_run: Any) -> None:
    """Timers wait for the relay (messaging.operations.embedded_services runs it): a slow issuer's order times out."""
    server = make_run(SHOP_SAGA_TIMEOUT="8", SHOP_PAYMENT_SLOW_SECONDS="60")

    order = settle(server, place(server, "command", token="tok_0003"), {"confirmed", "cancelled"})

    assert order["status"] == "cancelled"
    assert "timed out" in str(order.get("cancel_reason")), order
