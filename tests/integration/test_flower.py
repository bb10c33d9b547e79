"""`make flower`: Celery's monitor on the configured broker, behind basic auth.

With the RabbitMQ group's workers running (one per Procfile service, started with ``-E``), the
test starts ``make flower`` as the README says, with ``FLOWER_BASIC_AUTH`` exported, and opens it
in Debian's chromium: the dashboard lists the service workers. Without credentials the page and
the API answer 401; with them the API answers too. Without ``FLOWER_BASIC_AUTH`` the target
refuses to start.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests import processes
from tests.e2e.conftest import browser  # noqa: F401  (the module-scoped fixture)
from tests.e2e.test_make_run import free_port, fresh_env
from tests.integration.workers import ROOT
from tests.services import BROKER_URLS

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CREDENTIALS = ("flower-admin", "flower-test-only-password")
START_TIMEOUT = 90.0


def get(url: str, *, auth: bool) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(":".join(CREDENTIALS).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def flower(live_broker: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = tmp_path / "flower.log"
    env = fresh_env(CELERY_BROKER_URL=BROKER_URLS[live_broker], FLOWER_BASIC_AUTH=":".join(CREDENTIALS))
    process = processes.start(["make", "--no-print-directory", "flower", f"FLOWER_PORT={port}"], env=env, log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, f"make flower exited:\n{log.read_text(errors='replace')[-3000:]}"
            try:
                get(url + "/healthcheck", auth=False)
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
                time.sleep(0.5)
        yield url
    finally:
        processes.stop(process)


@pytest.mark.browser
@pytest.mark.parametrize("live_broker", ["amqp"], indirect=True)
def test_flower_shows_the_service_workers_behind_basic_auth(flower: str, browser: Browser) -> None:  # noqa: F811
    assert get(flower + "/", auth=False)[0] == 401
    assert get(flower + "/api/workers", auth=False)[0] == 401

    context = browser.new_context(http_credentials={"username": CREDENTIALS[0], "password": CREDENTIALS[1]})
    try:
        page = context.new_page()
        page.goto(flower + "/")
        # One row per Procfile worker, named <service>-amqp@host (tests/integration/workers.py).
        for service in ("orders", "inventory", "payments", "fraud", "notifications", "analytics", "projector"):
            page.get_by_text(f"{service}-amqp@").first.wait_for(timeout=60_000)
    finally:
        context.close()

    status, body = get(flower + "/api/workers?refresh=1", auth=True)
    assert status == 200
    assert any(name.startswith("inventory-amqp@") for name in json.loads(body)), body[:500]


def test_make_flower_refuses_without_basic_auth() -> None:
    env = fresh_env(CELERY_BROKER_URL=BROKER_URLS["amqp"])
    env.pop("FLOWER_BASIC_AUTH", None)
    result = subprocess.run(
        ["make", "--no-print-directory", "flower"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "FLOWER_BASIC_AUTH is not set" in result.stderr
