"""``st run --checks all`` against the running shop: no failure, and every operation reached.

The server is the one ``make run`` starts with no broker: the Procfile's gunicorn line, one
process whose worker runs every service's consumers and the relay in threads on ``memory://``
(shop/wsgi.py), on a SQLite file of the test's own. Workers matter: ``pack`` needs the stock
reserved, which only they confirm. The catalog is seeded with a large stock, so that the orders
schemathesis places are not all cancelled for lack of it.

schemathesis runs from the checkout, with the project's ``schemathesis.toml`` (a hook that waits
for an order's reservation in the stateful phase; realistic catalog ids; gunicorn's 414 counted as
the rejection it is; the one documented exception, POST /api/orders's 422s), as a developer would
run it, with ``--checks all`` and the default number of examples. Checks: its exit code and its
JSON report say
no failure and no error, every operation was tested, and its HAR says every operation answered
at least one 2xx ("reached"): an operation schemathesis could only ever get refused by is one
nobody knows works.

Reaching ship does not rest on chance: the OpenAPI links let the stateful phase follow an order
from POST /api/orders to pay, pack and ship, but whether it does within its budget varies from
run to run. So the test also does what schemathesis advises for operations that need existing
resources: it places a few orders through the API, pays some and packs others, and gives their
ids to schemathesis for pack and ship (half the time; the other half it generates its own).

It runs in the SQLite tier (``make test``), in about a minute, and never skips: it needs nothing
but this virtualenv. Under ``CI=true`` the seed is fixed, so a failure there can be replayed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests import processes
from tests.e2e.test_make_run import Server, free_port, fresh_env
from tests.services import in_ci

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START_TIMEOUT = 90.0
#: Bound on the whole schemathesis run (it takes 30 to 60 s here).
RUN_TIMEOUT = 300
#: Generated cases per operation and phase (schemathesis' default is 100): with the coverage
#: phase's boundary cases and the prepared orders, 40 reach every operation in about half the
#: time, which keeps `make test` within its bound.
MAX_EXAMPLES = 40
#: Orders prepared per mode in each state.
PREPARED = 3
#: The staff user schemathesis authenticates as (HTTP Basic), so that release and reject can
#: answer 2xx; the ignored_auth check still sends them without it and expects the 401.
STAFF, STAFF_PASSWORD = "schemathesis", "st-staff-pw-1"
#: Mallory buying the espresso machine: fraud flags it (risk 0.85), so the order is held.
RISKY_CUSTOMER, RISKY_SKU = "mallory@mailinator.com", "PROD-C"


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    var = tmp_path / "var"
    var.mkdir()
    env = fresh_env(PORT=str(port), SHOP_VAR_DIR=str(var), PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    _manage(env, "migrate", "--noinput")
    _manage(env, "seed_catalog")
    _manage(env, "shell", "-c", "from catalog.models import Product; Product.objects.update(stock=1_000_000)")
    staff = (
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user({STAFF!r}, password={STAFF_PASSWORD!r}, is_staff=True)"
    )
    _manage(env, "shell", "-c", staff)
    log = tmp_path / "server.log"
    # The Procfile's web line, as `make run` starts it on memory:// (WEB_WORKERS=1).
    command = [str(BIN / "gunicorn"), "shop.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    process = processes.start([*command, "--threads", "4", "--graceful-timeout", "10"], env=env, log=log)
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, f"the server exited ({process.returncode}):\n{server.tail()}"
            try:
                if server.request("GET", "/api/products")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (
                f"the server did not serve within {START_TIMEOUT:.0f} s:\n{server.tail()}"
            )
            time.sleep(0.3)
        yield server
    finally:
        processes.stop(process)


def reserved(server: Server, order_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        order: dict[str, Any] = server.json("GET", f"/api/orders/{order_id}")
        if order["reserved_at"]:
            return order
        assert time.monotonic() < deadline, f"order {order_id} never reserved: {order}\n{server.tail()}"
        time.sleep(0.1)


def held(server: Server, order_id: str) -> None:
    deadline = time.monotonic() + 30
    while server.json("GET", f"/api/orders/{order_id}")["status"] != "on_hold":
        assert time.monotonic() < deadline, f"order {order_id} never held\n{server.tail()}"
        time.sleep(0.1)


def prepare(server: Server) -> dict[str, list[str]]:
    """Orders in the states pack, ship, release and reject need, made through the API as a client would."""
    customers = server.json("GET", "/api/customers")
    customer = customers[0]["id"]
    risky = next(c for c in customers if c["email"] == RISKY_CUSTOMER)["id"]
    products = server.json("GET", "/api/products")
    product = next(p for p in products if p["sku"] == "PROD-D")["id"]
    expensive = next(p for p in products if p["sku"] == RISKY_SKU)["id"]
    ready: dict[str, list[str]] = {"paid": [], "packed": [], "held": []}
    for mode in ("command", "event"):
        for _ in range(2 * PREPARED):
            body = {"user_id": risky, "items": [{"product_id": expensive, "quantity": 1}], "mode": mode}
            order_id = str(server.json("POST", "/api/orders", body)["id"])
            held(server, order_id)
            ready["held"].append(order_id)
    for mode in ("command", "event"):
        for state in ("paid", "packed") * PREPARED:
            body = {"user_id": customer, "items": [{"product_id": product, "quantity": 1}], "mode": mode}
            order_id = str(server.json("POST", "/api/orders", body)["id"])
            reserved(server, order_id)
            server.json("POST", f"/api/orders/{order_id}/pay", {"method": "card"})
            if state == "packed":
                server.json("POST", f"/api/orders/{order_id}/pack", {"warehouse": "W1"})
            ready[state].append(order_id)
    return ready


def config_with(ready: dict[str, list[str]], path: Path) -> Path:
    """The project's schemathesis.toml, plus the prepared orders' ids for pack and ship."""
    extra = [
        f"[dictionaries.paid]\nvalues = {json.dumps(ready['paid'])}\n",
        f"[dictionaries.packed]\nvalues = {json.dumps(ready['packed'])}\n",
        f"[dictionaries.held]\nvalues = {json.dumps(ready['held'])}\n",
    ]
    for action, state in (("pack", "paid"), ("ship", "packed"), ("release", "held"), ("reject", "held")):
        extra.append(
            f'[[operations]]\ninclude-name = "POST /api/orders/{{id}}/{action}"\n'
            f'parameters."path.id" = {{ dictionary = "{state}", probability = 0.5 }}\n'
        )
    path.write_text((ROOT / "schemathesis.toml").read_text() + "\n" + "\n".join(extra))
    return path


def reached(har: dict[str, Any], document: dict[str, Any]) -> dict[str, list[int]]:
    """Each operation of the document, with the statuses schemathesis got from it."""
    operations = {
        f"{method.upper()} {path}": re.compile("^" + re.sub(r"\{[^}/]+\}", "[^/]+", path) + "$")
        for path, methods in document["paths"].items()
        for method in methods
    }
    answered: dict[str, list[int]] = {label: [] for label in operations}
    for entry in har["log"]["entries"]:
        method, path = entry["request"]["method"], urlsplit(entry["request"]["url"]).path
        for label, pattern in operations.items():
            if label.startswith(method + " ") and pattern.match(path):
                answered[label].append(entry["response"]["status"])
                break
    return answered


def test_schemathesis_finds_no_failure_and_reaches_every_operation(shop: Server, tmp_path: Path) -> None:
    config = config_with(prepare(shop), tmp_path / "schemathesis.toml")
    reports = tmp_path / "reports"
    command = [
        str(BIN / "st"),
        "--config-file",
        str(config),
        "run",
        "--checks",
        "all",
        f"{shop.base}/api/openapi.json",
        "--workers",
        "1",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--auth",
        f"{STAFF}:{STAFF_PASSWORD}",
        "--report",
        "json,har",
        "--report-json-path",
        str(reports / "run.json"),
        "--report-har-path",
        str(reports / "run.har"),
    ]
    if in_ci():  # reproducible in CI; locally each run explores new inputs (the seed is printed)
        command += ["--seed", "15"]

    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT)

    output = result.stdout[-12_000:] + result.stderr[-3_000:]
    assert (reports / "run.json").exists(), f"st wrote no report (exit {result.returncode}):\n{output}"
    report = json.loads((reports / "run.json").read_text())
    assert (result.returncode, report["failures"], report["errors"]) == (0, [], []), output
    assert report["test_cases"]["with_failures"] == 0, output
    document = shop.json("GET", "/api/openapi.json")
    operations = sum(len(methods) for methods in document["paths"].values())
    assert report["operations"]["tested"] == report["operations"]["total"] == operations, report["operations"]
    answered = reached(json.loads((reports / "run.har").read_text()), document)
    never = {label: sorted(set(codes)) for label, codes in answered.items() if not any(200 <= c < 300 for c in codes)}
    assert not never, f"never answered with a 2xx (statuses seen): {never}\n{output}\n{shop.tail()}"
