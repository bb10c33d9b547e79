"""The fault-injecting relay itself (messaging/operations/chaos.py), without servers: fast, every tier.

What the fault tier relies on: under ``SHOP_CHAOS=duplicate-shuffle`` nothing leaves on the fast
path, and the sweeper's batch goes out after its commit, each envelope twice, shuffled; a broker
failure in the middle puts the envelopes not delivered yet back to pending, so chaos never loses one.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from messaging import bootstrap
from messaging.kernel.bus import EventBus
from messaging.kernel.envelope import Envelope
from messaging.kernel.outbound import OutboxDispatch, pending
from messaging.operations import chaos
from messaging.operations.relay import Relay
from tests.fakes import RecordingTransport

pytestmark = pytest.mark.django_db(transaction=True)


class BrokerGoesDown(RecordingTransport):
    """Accepts ``up_for`` deliveries, then fails like a broker that went away."""

    def __init__(self, up_for: int) -> None:
        super().__init__()
        self.up_for = up_for

    def deliver(self, envelope: Envelope) -> str:
        if len(self.delivered) >= self.up_for:
            raise ConnectionError("broker down")
        return super().deliver(envelope)


@pytest.fixture
def chaos_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(chaos.CHAOS_ENV, chaos.DUPLICATE_SHUFFLE)
    yield
    monkeypatch.delenv(chaos.CHAOS_ENV)
    bootstrap.configure()


def publish(outbound: OutboxDispatch, count: int) -> list[Envelope]:
    """``count`` events written to the outbox in one transaction, as a service would."""
    events = EventBus(outbound)
    with transaction.atomic():
        return [
            events.publish(
                "inventory.reserved",
                {"order_id": str(uuid.uuid4()), "items": [{"product_id": 1, "quantity": i + 1}]},
                producer="inventory",
                correlation_id=f"order-{i}",
            )
            for i in range(count)
        ]


def test_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(chaos.CHAOS_ENV, raising=False)
    recorder = RecordingTransport()
    outbound = bootstrap.configure(transport=recorder).outbound
    assert isinstance(outbound, OutboxDispatch) and outbound.fast_path
    assert outbound.transport is recorder
    monkeypatch.setenv(chaos.CHAOS_ENV, "everything-at-once")
    with pytest.raises(ImproperlyConfigured, match="SHOP_CHAOS"):
        bootstrap.configure(transport=recorder)
    monkeypatch.delenv(chaos.CHAOS_ENV)
    bootstrap.configure()


def test_the_sweeper_delivers_each_message_twice_in_shuffled_order(chaos_on: None) -> None:
    recorder = RecordingTransport()
    outbound = bootstrap.configure(transport=recorder).outbound
    assert isinstance(outbound, OutboxDispatch) and not outbound.fast_path, "chaos turns the fast path off"
    assert isinstance(outbound.transport, chaos.DuplicateShuffleTransport)
    outbound.transport.rng = random.Random(7)

    sent = publish(outbound, 20)
    assert recorder.delivered == [], "nothing leaves on commit: the sweeper sends it all"
    assert pending() == 20

    assert outbound.relay.sweep() == 20
    assert pending() == 0
    assert Counter(e.id for e in recorder.delivered) == {e.id: 2 for e in sent}
    in_order = [e.id for e in sent for _ in range(2)]
    assert [e.id for e in recorder.delivered] != in_order, "the batch is shuffled"


def test_a_broker_failure_mid_batch_puts_the_undelivered_back_to_pending(chaos_on: None) -> None:
    broker = BrokerGoesDown(up_for=5)
    transport = chaos.DuplicateShuffleTransport(broker, rng=random.Random(3))
    outbound = bootstrap.outbox(transport)  # as the app builds it: no fast path under chaos
    sent = publish(outbound, 10)

    assert Relay(transport).sweep() == 10  # handed over and marked sent; delivered after commit
    delivered = {e.id for e in broker.delivered}
    assert 0 < len(delivered) <= 5
    assert pending() == len({e.id for e in sent} - delivered), "every envelope not delivered once is pending again"

    broker.up_for = 1000
    Relay(transport).sweep()
    assert pending() == 0
    assert {e.id for e in broker.delivered} == {e.id for e in sent}, "none lost"
