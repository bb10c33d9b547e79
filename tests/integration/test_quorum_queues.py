"""RabbitMQ with ``SHOP_QUEUE_TYPE=quorum``: the queues really are quorum queues, and what the
broker gives up on is dead-lettered, not dropped (docs/decisions.md §21).

The comparison suite and the competing-consumers test also run on this broker (``amqp-quorum``,
tests/integration/conftest.py): the whole order flow, both modes, on quorum queues. The settings'
half, without a broker, is tests/unit/test_queue_types.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlparse

import pytest
from amqp.exceptions import AMQPError
from kombu import Connection, Exchange, Queue

from messaging.celery_adapter.queue_types import DEAD_LETTER_QUEUE, QUORUM, queue_arguments
from messaging.celery_adapter.topology import dead_letter_queue, service_queue_name
from messaging.kernel.routing import command_queues
from messaging.kernel.subscriptions import services
from tests.integration import brokers
from tests.integration import conftest as integration
from tests.services import AMQP_QUORUM, AMQP_QUORUM_URL, in_ci, require_broker

pytestmark = [pytest.mark.integration, pytest.mark.real_brokers]


def list_queues(vhost: str) -> dict[str, dict[str, Any]]:
    """Name -> type, durable, auto_delete, arguments of every queue on ``vhost`` (rabbitmqctl: an
    AMQP client cannot ask a queue for its type)."""
    columns = ["name", "type", "durable", "auto_delete", "arguments"]
    run = subprocess.run(
        ["rabbitmqctl", "list_queues", "-q", "-p", vhost, *columns, "--formatter", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {row["name"]: row for row in json.loads(run.stdout)}


def arguments_of(row: dict[str, Any]) -> dict[str, Any]:
    """rabbitmqctl's JSON gives a queue's arguments as [name, AMQP type, value] triples."""
    return {entry[0]: entry[-1] for entry in row.get("arguments") or []}


def require_rabbitmqctl() -> None:
    if shutil.which("rabbitmqctl") is None:
        message = "rabbitmqctl is not installed: cannot create a vhost of the test's own"
        pytest.fail(message) if in_ci() else pytest.skip(message)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("live_broker", [AMQP_QUORUM], indirect=True)
def test_every_queue_the_app_declares_there_is_a_quorum_queue(live_broker: str) -> None:
    """With the workers and the relay up, every durable queue on the vhost is a quorum queue with
    the app's arguments, and each worker turned Celery's global QoS off."""
    # Celery's default queue ``celery`` is quorum too (tests/unit/test_queue_types.py), but no
    # worker consumes it (the Procfile names every worker's queues) and nothing is routed there,
    # so nobody declares it. Celery's native delayed delivery adds its own, all quorum.
    expected = set(command_queues().values()) | {service_queue_name(s) for s in services()}
    expected |= {DEAD_LETTER_QUEUE}
    assert {"orders.replies", "inventory.reserve", "inventory.events"} <= expected

    queues = list_queues(integration.vhost_of(AMQP_QUORUM_URL))

    assert expected <= set(queues), f"not declared: {sorted(expected - set(queues))}"
    durable = {name: row for name, row in queues.items() if row["durable"] and not row["auto_delete"]}
    assert expected <= set(durable)
    not_quorum = {name: row["type"] for name, row in durable.items() if row["type"] != QUORUM}
    assert not not_quorum, f"durable queues that are not quorum queues: {not_quorum}"
    work = queue_arguments(QUORUM)
    assert work is not None
    for name in expected - {DEAD_LETTER_QUEUE}:
        assert arguments_of(queues[name]) == work, (name, queues[name])
    assert arguments_of(queues[DEAD_LETTER_QUEUE]) == dead_letter_queue(QUORUM).queue_arguments

    group = integration._groups[live_broker]
    for name in group.processes:
        if name == "relay":
            continue
        log = group.log_path(name).read_text(errors="replace")
        assert "Global QoS is disabled" in log, f"{name}: Celery did not see its quorum queues:\n{log[-2000:]}"


@pytest.fixture
def probe_vhost() -> Iterator[Connection]:
    """A vhost of its own, empty, with no worker: the broker alone is under test."""
    require_broker(AMQP_QUORUM)
    require_rabbitmqctl()
    vhost = brokers.RabbitMQ(vhost=f"{integration.vhost_of(AMQP_QUORUM_URL)}_probe")
    url = urlparse(AMQP_QUORUM_URL)._replace(path="/" + quote(vhost.vhost, safe="")).geturl()
    vhost.recreate()
    with Connection(url) as connection:
        yield connection
    subprocess.run(["rabbitmqctl", "delete_vhost", vhost.vhost], capture_output=True, timeout=60)


def test_a_message_returned_past_the_delivery_limit_goes_to_dead_letters(probe_vhost: Connection) -> None:
    """A quorum queue with the app's arguments (the limit lowered to 1): after two returns RabbitMQ
    gives up on the message and moves it, x-death and all, to ``dead-letters``."""
    channel: Any = probe_vhost.default_channel
    dead_letters = dead_letter_queue(QUORUM)(channel)
    dead_letters.declare()  # as every worker does at start on a quorum vhost
    exchange = Exchange("probe", type="direct", durable=True)
    probe = Queue("probe", exchange, routing_key="probe", queue_arguments=queue_arguments(QUORUM, delivery_limit=1))
    probe(channel).declare()
    marker = str(uuid.uuid4())
    with probe_vhost.Producer() as producer:
        producer.publish({"marker": marker}, exchange=exchange, routing_key="probe", serializer="json", delivery_mode=2)

    deliveries = 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        message = probe(channel).get(no_ack=False, accept=["json"])
        if message is None:
            if channel.queue_declare(queue=DEAD_LETTER_QUEUE, passive=True).message_count:
                break
            time.sleep(0.1)
            continue
        deliveries += 1
        message.requeue()  # what a consumer does while the database is away
    assert deliveries == 2, "limit 1: one delivery, one redelivery, then the broker gives up"
    assert probe(channel).get(no_ack=True) is None

    copy = dead_letters.get(no_ack=True, accept=["json"])
    assert copy is not None and copy.payload == {"marker": marker}
    deaths: Any = copy.headers["x-death"]
    (death,) = deaths
    assert (death["queue"], death["reason"]) == ("probe", "delivery_limit")


def test_quorum_queues_refuse_a_consumer_on_a_channel_with_global_qos(probe_vhost: Connection) -> None:
    """Why Celery must know its queues are quorum queues (worker_detect_quorum_queues): its
    classic setting, one prefetch for the whole channel, cannot consume from them."""
    channel: Any = probe_vhost.channel()
    queue = Queue(
        "probe-qos", Exchange("probe-qos", durable=True), "probe-qos", queue_arguments=queue_arguments(QUORUM)
    )
    queue(channel).declare()
    channel.basic_qos(prefetch_size=0, prefetch_count=4, a_global=True)
    with pytest.raises(AMQPError, match=r"(?i)global qos"):
        channel.basic_consume(queue="probe-qos", callback=lambda message: None)
        probe_vhost.drain_events(timeout=2)
