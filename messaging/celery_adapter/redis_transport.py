"""kombu's Redis transport, with one independent copy per queue when a message is routed.

kombu's virtual exchanges push the *same* message into every bound queue: the copies share one
delivery tag, and their ``delivery_info`` names the exchange. Redis keeps unacknowledged
messages in one hash keyed by delivery tag, so when two services handle their copies at once,
the first ack deletes the other service's record (a crash then loses its copy), and a restore
re-routes through the exchange into *every* bound queue. Giving each copy its own tag and a
direct route to its own queue makes each service's copy acknowledged and restored on its own:
at-least-once per service, as on RabbitMQ. Everything else is kombu's code.

The kombu internals used here (the channel's ``_lookup``, ``_put`` and ``_connparams``, ...) are
named in ``messaging/celery_adapter/internals.py``, and checked by tests/unit/test_internals.py.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

import redis as redis_py

from messaging.celery_adapter.internals import (
    RedisChannel,
    RedisTransport,
    TopicExchange,
    bound_queues,
    put_message,
)


class CopyPerQueueTopicExchange(TopicExchange):
    def deliver(self, message: dict[str, Any], exchange: str, routing_key: str, **kwargs: Any) -> None:
        channel = self.channel  # type: ignore[attr-defined]  # set by ExchangeType.__init__, untyped
        for queue in bound_queues(channel, exchange, routing_key):
            if not queue or queue == channel.deadletter_queue:
                continue
            own = copy.deepcopy(message)
            props = own["properties"]
            props["delivery_tag"] = str(uuid.uuid4())
            # Restores go straight back to this queue only (anonymous exchange, queue as key),
            # while the original routing key stays readable for logs.
            props["delivery_info"] = {"exchange": "", "routing_key": queue, "original_routing_key": routing_key}
            put_message(channel, queue, own, **kwargs)


class Channel(RedisChannel):
    exchange_types = {**RedisChannel.exchange_types, "topic": CopyPerQueueTopicExchange}

    def _connparams(self, asynchronous: bool = False) -> Any:
        """Fail like a lost connection, not with AttributeError, once the connection is closed.

        When Redis goes away, Celery closes the connection (its transport's ``client`` becomes
        None) and then closes the channel, which tries to restore the unacknowledged messages
        through a new client. kombu reads ``client.hostname`` from None there, and the
        AttributeError, unlike a connection error, is not ignored: the worker exits with
        "Unrecoverable error" (celery/celery#8030, #8384; seen in the fault tier's broker
        restart on Redis). Raised as a connection error it is ignored, the worker reconnects,
        and the unacknowledged messages come back after the visibility timeout instead.
        """
        if self.connection.client is None:
            raise redis_py.exceptions.ConnectionError("the broker connection is closed")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]  # untyped in the stubs


class Transport(RedisTransport):
    Channel = Channel
