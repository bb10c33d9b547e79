"""Event delivery is once per *service*, not once per worker process.

Two inventory worker processes consume the one durable queue ``inventory.events``: they
compete, so each event is handled by exactly one of them, and both share the work. On RabbitMQ
also with quorum queues (``amqp-quorum``), where the prefetch is per consumer, not per channel.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator

import pytest

from core.models import MessageLog
from orders.models import Order
from tests.integration import conftest as integration
from tests.integration.harness import Flow
from tests.services import AMQP_QUORUM

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ORDERS = 24


def describe(workers: set[str]) -> str:
    """``ps`` lines for the processes named ``host:pid``, to say who the extra consumer was."""
    pids = [worker.rsplit(":", 1)[1] for worker in workers]
    if not pids:
        return ""
    ps = ["ps", "-o", "pid,ppid,pgid,lstart,args", "-p", ",".join(pids)]
    return subprocess.run(ps, capture_output=True, text=True, check=False).stdout


@pytest.fixture
def second_inventory_worker(live_broker: str) -> Iterator[None]:
    group = integration._groups[live_broker]
    group.spawn("inventory-2", "inventory")
    group.wait_ready(["inventory-2"])
    try:
        yield
    finally:
        group.stop_one("inventory-2")


@pytest.mark.parametrize("live_broker", ["redis", "amqp", AMQP_QUORUM], indirect=True)
def test_two_inventory_workers_compete_and_each_event_is_handled_once(
    live_broker: str, second_inventory_worker: None, catalog: None
) -> None:
    flow = Flow(mode="event", broker=live_broker)
    orders = [flow.place("ada@example.com", ("PROD-D", 1)) for _ in range(ORDERS)]
    flow.settle_all([order.id for order in orders])

    # Only this test's orders: a row a worker writes late for an earlier test must not count.
    log = MessageLog.objects.filter(
        service="inventory", name="order.placed", correlation_id__in=[str(order.id) for order in orders]
    )
    assert log.filter(status="handled").count() == ORDERS
    assert not log.filter(status="duplicate").exists(), "the broker delivered an event twice to inventory"
    handlers = set(log.filter(status="handled").values_list("worker", flat=True))
    group = integration._groups[live_broker]
    started = {
        f"{socket.gethostname()}:{proc.pid}" for name, proc in group.processes.items() if name.startswith("inventory")
    }
    assert len(started) == 2
    # Exactly the two: no other process may consume this test's events (a relay of another
    # broker's group once published some of them to that broker; tests/integration/conftest.py).
    assert handlers == started, (
        f"inventory.events was consumed by {sorted(handlers)}; the two inventory workers are {sorted(started)}"
        f" (this test process is {socket.gethostname()}:{os.getpid()}):\n{describe(handlers - started)}"
    )
    assert flow.stock("PROD-D") == 1000 - ORDERS
    assert Order.objects.filter(status=Order.Status.CONFIRMED).count() == ORDERS
