"""schemathesis hooks for this API (loaded by ``schemathesis.toml``, so by any ``st run`` from the checkout).

The API is asynchronous: ``POST /api/orders`` answers 201 as soon as the order row exists, and the
workers reserve its stock a moment later (0.1 to 0.2 s on the one-process server). ``pack`` is
refused with 409 until then. A client waits for the reservation before packing; so does this
hook, after each order schemathesis places in its stateful phase, so that the phase can follow
an order's links from ``POST /api/orders`` through pay and pack to ship instead of always
finding it too early. (The other phases use an order seconds later, if at all: no wait.) It only
reads (``GET /api/orders/{id}``) and gives up after ``WAIT`` seconds: an order a slow issuer
keeps unconfirmed is simply not packable yet, which is what the 409 says.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import requests
import schemathesis
from schemathesis.generation.meta import TestPhase

#: Seconds to wait for an order's reservation, at most.
WAIT = 5.0
#: Statuses after which no reservation is coming (held by fraud, or cancelled).
SETTLED = {"on_hold", "cancelled"}


@schemathesis.hook
def after_call(context: Any, case: schemathesis.Case[Any], response: Any) -> None:
    if case.method.upper() != "POST" or case.path != "/api/orders" or response.status_code != 201:
        return
    if case.meta is None or case.meta.phase.name != TestPhase.STATEFUL:
        return
    url = urlsplit(str(response.request.url))
    wait_for_reservation(f"{url.scheme}://{url.netloc}", str(response.json()["id"]))


def wait_for_reservation(base: str, order_id: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        order = requests.get(f"{base}/api/orders/{order_id}", timeout=10).json()
        if order.get("reserved_at") or order.get("status") in SETTLED:
            return
        time.sleep(0.05)
