"""The fault tier: N orders through real worker processes while one thing goes wrong.

For each fault × mode (command, event) × broker (RabbitMQ, Redis), on a broker these tests may
stop (tests/integration/brokers.py), with one worker process per service and the outbox relay
running as in ``make run``:

- ``kill -9``: a third of the way in, every worker's process group (prefork children included)
  is killed with SIGKILL, mid-transaction or mid-message, then restarted while orders keep
  coming;
- ``broker restart``: a third of the way in, the broker is stopped and started again while
  orders keep coming;
- ``duplicate+shuffle``: the relay delivers every message twice, in shuffled order
  (``SHOP_CHAOS=duplicate-shuffle``, messaging/operations/chaos.py, in every process);
- ``broker down``: the broker is down while every order is placed, and started afterwards.

Each run waits (bounded) until nothing is left to happen, then checks that no order was lost
and no effect was applied twice: every order confirmed, stock taken once per order, revenue and
items sold once, one confirmation email each, the read model equal to a fresh rebuild (event
mode), no dead letters. The session ends with the table of runs (also var/fault-report.json).
"""

from __future__ import annotations

import time

import pytest

from orders.models import Order
from tests.faults import checks, report, run, settling, stacks

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAULTS = ["kill -9 workers", "broker restart", "duplicate+shuffle", "broker down"]
#: A run's own bound: lock wait (at most 15 min, tests/integration/workers.py) plus the run.
RUN_TIMEOUT = 900 + 900


@pytest.mark.timeout(RUN_TIMEOUT)
@pytest.mark.parametrize("broker", ["amqp", "redis"])
@pytest.mark.parametrize("mode", ["command", "event"])
@pytest.mark.parametrize("fault", FAULTS)
def test_no_order_lost_and_nothing_applied_twice(fault: str, mode: str, broker: str, catalog: None) -> None:
    n = run.ORDERS
    label = f"{fault} / {mode} / {broker}"
    with stacks.stack(broker, name=f"{fault} {mode}", chaos=fault == "duplicate+shuffle") as stack:
        shop = run.prepare_catalog(n)
        started = time.monotonic()
        order_ids = []
        if fault == "kill -9 workers":
            order_ids += run.place_orders(n // 3, mode=mode, catalog=shop, threads=run.PLACERS)
            names = stack.kill_workers()

            def restart_workers() -> None:
                time.sleep(2)  # orders keep coming while no worker runs
                stack.restart_workers(names)

            restart = run.Background("restart workers", restart_workers)
            restart.start()
            order_ids += run.place_orders(n - n // 3, mode=mode, catalog=shop, threads=run.PLACERS)
            restart.finish()
        elif fault == "broker restart":
            order_ids += run.place_orders(n // 3, mode=mode, catalog=shop, threads=run.PLACERS)

            def restart_broker() -> None:
                stack.broker.stop()
                stack.broker.start()

            bounce = run.Background("broker restart", restart_broker)
            bounce.start()
            order_ids += run.place_orders(n - n // 3, mode=mode, catalog=shop, threads=run.PLACERS)
            bounce.finish()
        elif fault == "broker down":
            stack.broker.stop()
            order_ids += run.place_orders(n, mode=mode, catalog=shop, threads=stacks.DOWN_PLACERS)
            assert Order.objects.filter(pk__in=order_ids).count() == n, "the outbox accepts every order"
            stack.broker.start()
        else:
            order_ids += run.place_orders(n, mode=mode, catalog=shop, threads=run.PLACERS)
        placed = time.monotonic() - started
        settling.settle(
            order_ids,
            url=stack.url,
            final={Order.Status.CONFIRMED},
            label=label,
            diagnose=stack.diagnose,
        )
        seconds = time.monotonic() - started
    row = checks.check(fault=fault, mode=mode, broker=broker, order_ids=order_ids, catalog=shop, seconds=seconds)
    row.details["placing_seconds"] = round(placed, 1)
    report.record(row)
    print(f"\n[{label}] {n} orders placed in {placed:.1f}s, settled after {seconds:.1f}s: {row.details}")
    assert not row.problems, f"[{label}]\n" + "\n".join(row.problems)
