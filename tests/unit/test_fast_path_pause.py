"""After a failed publish the fast path stands aside for a few seconds (messaging/kernel/outbound.py).

With the broker down, every order's after-commit publish used to spend the transport's publish
retries (about 2 s a message) before leaving the row to the relay: a request placed during an
outage waited seconds for nothing. Now one failure makes the process leave the next
``FAST_PATH_PAUSE`` seconds of messages to the relay straight away; nothing is lost, since every
message is a committed outbox row, and the relay sends them once the broker is back.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from messaging.kernel import outbound as outbound_module
from messaging.kernel.bus import EventBus
from messaging.kernel.envelope import Envelope
from messaging.kernel.outbound import OutboxDispatch, pending
from messaging.operations.relay import Relay
from tests.fakes import RecordingTransport

pytestmark = pytest.mark.django_db(transaction=True)


class SwitchableBroker(RecordingTransport):
    """Refuses every delivery while ``down``, as a stopped broker does; counts the attempts."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.attempts = 0

    def deliver(self, envelope: Envelope) -> str:
        self.attempts += 1
        if self.down:
            raise ConnectionError("[Errno 111] Connection refused")
        return super().deliver(envelope)


def publish_one(outbound: OutboxDispatch) -> None:
    with transaction.atomic():  # the fast path runs when this commits
        EventBus(outbound).publish(
            "inventory.reserved",
            {"order_id": str(uuid.uuid4()), "items": [{"product_id": 1, "quantity": 1}]},
            producer="inventory",
            correlation_id="order-1",
        )


def test_one_failed_publish_leaves_the_next_messages_to_the_relay(caplog: pytest.LogCaptureFixture) -> None:
    broker = SwitchableBroker()
    outbound = OutboxDispatch(broker, Relay(broker))
    if not outbound.fast_path:
        pytest.skip("SHOP_CHAOS turns the fast path off")

    publish_one(outbound)
    assert (broker.attempts, len(broker.delivered), pending()) == (1, 1, 0), "the fast path sends when it can"

    broker.down = True
    publish_one(outbound)
    publish_one(outbound)
    publish_one(outbound)
    assert broker.attempts == 2, "after the first failure the process stops trying the broker"
    assert pending() == 3, "every message is kept in the outbox for the relay"
    assert [r for r in caplog.records if "not published yet" in r.getMessage()], "the failure is logged"

    broker.down = False
    assert outbound.relay.sweep() == 3 and pending() == 0, "the relay sends them once the broker is back"

    outbound.paused_until -= outbound_module.FAST_PATH_PAUSE  # the pause is over
    publish_one(outbound)
    assert broker.attempts == 6 and pending() == 0, "and the fast path sends again after its pause"


def test_a_database_error_does_not_pause_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the broker's refusal pauses it: after a database error (the row could not be claimed)
    the next message goes out on the fast path again, not through the relay's batches."""
    from django.db import OperationalError

    broker = SwitchableBroker()
    outbound = OutboxDispatch(broker, Relay(broker))
    if not outbound.fast_path:
        pytest.skip("SHOP_CHAOS turns the fast path off")
    claim = outbound.relay.publish_now
    calls = {"n": 0}

    def database_gone_once(message_id: uuid.UUID, envelope: Envelope | None = None) -> str | None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("terminating connection due to administrator command")
        return claim(message_id, envelope)

    monkeypatch.setattr(outbound.relay, "publish_now", database_gone_once)

    publish_one(outbound)  # the database fails this one: its row stays pending, for the relay
    publish_one(outbound)

    assert outbound.paused_until == 0.0
    assert broker.attempts == 1 and pending() == 1, "the second message went out on the fast path"
