"""Nothing lost when the database fails: the workers, the relay and the web process (issue 13).

Each run: one worker process per service, the outbox relay and the web process (gunicorn, from
the Procfile), all with persistent connections (``CONN_MAX_AGE`` 60, as in production) to the
fault tier's private PostgreSQL (tests/faults/postgres.py), on one broker; orders placed over
HTTP by four clients that retry with the same ``Idempotency-Key``. Meanwhile, one of:

- ``connections terminated``: every second, ``pg_terminate_backend`` on every connection of the
  stack's processes, until each process that works in this mode lost its connection at least 10
  times (command mode's projector has nothing to do: the read model is event mode's);
- ``postgres restart``: a third of the way in, PostgreSQL is stopped (fast shutdown), stays down
  for 5 s, and is started again;
- ``connection exhaustion``: ``max_connections`` is 40 for the run, and a third of the way in the
  test takes every free slot, cuts the stack's connections and takes each slot that frees up, so
  that for 5 s every reconnect is refused ("sorry, too many clients already").

Then the run settles and is checked like the broker faults (tests/faults/checks.py ``check``: none
lost, none applied twice, no dead letters, the read model equal to a rebuild), and also: no order
cancelled by its deadline (the web process places them with the default 120 s), no message
handled more than 60 s after it was sent, and every process still running, by its PID.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from core.transient import reset_connections
from orders.models import Order
from tests.faults import checks, database, postgres, report, run, settling, stacks
from tests.services import in_ci

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAULTS = ["connections terminated", "postgres restart", "connection exhaustion"]
#: Each working process must lose its connection at least this often in a "connections terminated" run.
TERMINATIONS = 10
#: At most this many orders beyond run.ORDERS keep idle workers busy until they were cut enough
#: (run.prepare_catalog leaves stock for 50 more).
EXTRA_ORDERS = 40
DOWN_SECONDS = 5.0
EXHAUSTED_MAX_CONNECTIONS = "40"
EXHAUSTED_SECONDS = 5.0
MAX_HANDLING_SECONDS = 60.0


def private_cluster() -> postgres.Cluster:
    if postgres.CLUSTER is None:
        message = "the database faults stop PostgreSQL: run them with `make test-faults` (a private cluster)"
        if in_ci():
            pytest.fail(f"{message} (CI=true)")
        pytest.skip(message)
    return postgres.CLUSTER


@contextmanager
def max_connections(cluster: postgres.Cluster, value: str | None) -> Iterator[None]:
    if value is None:
        yield
        return
    cluster.set("max_connections", value)
    cluster.restart()
    reset_connections()
    try:
        yield
    finally:
        cluster.set("max_connections", None)
        cluster.restart()
        reset_connections()


def working_roles(stack: stacks.Stack, mode: str) -> set[str]:
    """The processes that use the database in ``mode``, as the terminator names them."""
    idle = {"projector"} if mode == "command" else set()
    # The Procfile's own -n comes first on a worker's command line: "worker inventory".
    workers = {f"worker {name}" for name in stack.workers.processes if name not in idle}
    return workers | {"relay", "web"}


@pytest.mark.timeout(900 + 600)
@pytest.mark.parametrize("broker", ["amqp", "redis"])
@pytest.mark.parametrize("mode", ["command", "event"])
@pytest.mark.parametrize("fault", FAULTS)
def test_nothing_lost_when_the_database_fails(fault: str, mode: str, broker: str, catalog: None) -> None:
    cluster = private_cluster()
    n = run.ORDERS
    label = f"{fault} / {mode} / {broker}"
    extra: dict[str, object] = {}
    problems: list[str] = []
    exhaust = fault == "connection exhaustion"
    with (
        max_connections(cluster, EXHAUSTED_MAX_CONNECTIONS if exhaust else None),
        stacks.stack(
            broker,
            name=f"db {fault} {mode}",
            extra_env={"SHOP_TEST_CONN_MAX_AGE": "60"},
            # Its checks read the processes' logs ("too many clients"): a stack of its own, fresh.
            keep=not exhaust,
        ) as stack,
    ):
        shop = run.prepare_catalog(n)
        with database.web_process(stack, label) as web:
            processes = {**stack.workers.processes, "web": web.process}
            if stack.relay is not None:
                processes["relay"] = stack.relay
            started = time.monotonic()
            placing = database.Placing()
            terminator, fault_thread, hog = None, None, database.Hog(cluster)
            if fault == "connections terminated":
                terminator = database.Terminator(cluster)
                terminator.start()
            elif fault == "postgres restart":

                def restart() -> None:
                    cluster.stop()
                    time.sleep(DOWN_SECONDS)
                    cluster.start()

                fault_thread = database.when_placed(placing, n // 3, restart)
            else:

                def exhaust_connections() -> None:
                    try:
                        hog.take_all()
                        extra["connections cut"] = hog.cut_the_stack()
                        until = time.monotonic() + EXHAUSTED_SECONDS
                        while time.monotonic() < until:  # and every slot the cut freed, as it frees up
                            hog.take_all()
                            time.sleep(0.02)
                        extra["slots taken"] = len(hog.held)
                    finally:
                        hog.release()

                fault_thread = database.when_placed(placing, n // 3, exhaust_connections)

            database.place_over_http(web.url, n, mode=mode, catalog=shop, placing=placing)
            if terminator is not None:
                wanted = working_roles(stack, mode)
                deadline = time.monotonic() + 60
                extra_orders = 0
                while any(terminator.rounds[r] < TERMINATIONS for r in wanted) and time.monotonic() < deadline:
                    # The orders went faster than the cuts: a process idle now holds no connection
                    # to cut. Until each was cut enough, reads keep the web using the database, and
                    # one more order now and then (within the catalog's spare stock) the workers.
                    if terminator.rounds["web"] < TERMINATIONS:
                        database.read_over_http(web.url)
                    workers_short = any(terminator.rounds[r] < TERMINATIONS for r in wanted - {"web"})
                    if workers_short and extra_orders < EXTRA_ORDERS:
                        database.place_over_http(web.url, 1, mode=mode, catalog=shop, threads=1, placing=placing)
                        extra_orders += 1
                    time.sleep(0.5 if workers_short else 0.1)
                extra["extra orders"] = extra_orders
                rounds = terminator.finish()
                extra["terminations"] = dict(sorted(rounds.items()))
                short = {r: rounds[r] for r in sorted(wanted) if rounds[r] < TERMINATIONS}
                if short:
                    problems.append(f"connections terminated fewer than {TERMINATIONS} times: {short}")
            if fault_thread is not None:
                fault_thread.finish(120)
            placed = time.monotonic() - started
            reset_connections()  # this process's own connection died with a restart
            settling.settle(
                placing.order_ids,
                url=stack.url,
                final={Order.Status.CONFIRMED, Order.Status.CANCELLED},
                label=label,
                diagnose=stack.diagnose,
            )
            seconds = time.monotonic() - started
            dead = database.dead_processes(processes)
            if dead:
                problems.append(f"processes not running at the end (name: exit code): {dead}\n{stack.diagnose()}")
            logs = [str(stack.workers.log_path(name)) for name in [*stack.workers.processes, "relay"]] + [web.log]
            if exhaust:
                extra["hog refused"] = hog.refused
                if "too many clients" not in hog.refused:
                    problems.append(f"the server was never full: the hog was refused with {hog.refused!r}")
                refused = database.logs_mention("too many clients", logs)
                extra["processes refused a connection"] = len(refused)
                if not refused:
                    problems.append("no process of the stack was refused a connection")

    row = checks.check(
        fault=fault, mode=mode, broker=broker, order_ids=placing.order_ids, catalog=shop, seconds=seconds
    )
    timed_out = database.cancelled_by_the_deadline(placing.order_ids)
    slowest, which = database.slowest_handling(placing.order_ids)
    if timed_out:
        problems.append(f"{timed_out} orders cancelled by their deadline")
    if slowest > MAX_HANDLING_SECONDS:
        problems.append(f"a message was handled {slowest:.0f}s after it was sent ({which})")
    row.problems += problems
    row.details.update(
        placing_seconds=round(placed, 1),
        client_retries=dict(placing.retries),
        cancelled_by_deadline=timed_out,
        slowest_handling_seconds=round(slowest, 1),
        dead_processes=len(dead),
        **extra,
    )
    report.record(row)
    print(f"\n[{label}] {n} orders over HTTP in {placed:.1f}s, settled after {seconds:.1f}s: {row.details}")
    assert not row.problems, f"[{label}]\n" + "\n".join(row.problems)
