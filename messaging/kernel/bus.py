"""The two buses. A command is *sent* to the one service named in it; an event is *published*
for whoever subscribes. Each refuses the other's messages with an error saying which to use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from messaging.kernel import contracts
from messaging.kernel.envelope import MAX_ENVELOPE_BYTES, Envelope, ReplyTo, wire_size
from messaging.kernel.errors import InvalidMessage
from messaging.kernel.names import Kind


class Dispatcher(Protocol):
    def dispatch(self, envelope: Envelope) -> None: ...


def _envelope(
    kind: Kind,
    name: str,
    data: dict[str, Any],
    *,
    producer: str,
    correlation_id: str | None,
    caused_by: Envelope | None,
    reply_to: ReplyTo | None = None,
    not_before: datetime | None = None,
) -> Envelope:
    contract = contracts.require_kind(name, kind)
    # Validate on the way out: a sender's bug fails in the sender, not in every consumer.
    payload = contracts.parse(name, contract.version, data).model_dump(mode="json")
    if caused_by is not None:
        envelope = caused_by.caused(
            kind=kind, type=name, version=contract.version, data=payload, producer=producer, reply_to=reply_to
        )
        if not_before is not None:
            envelope = envelope.model_copy(update={"not_before": not_before})
    elif not correlation_id:
        raise ValueError(f"{name}: a message needs a correlation_id or the message that caused it")
    else:
        envelope = Envelope(
            kind=kind,
            type=name,
            version=contract.version,
            correlation_id=correlation_id,
            producer=producer,
            reply_to=reply_to,
            not_before=not_before,
            data=payload,
        )
    # Every consumer would dead-letter it: refuse it here, where the sender can still act.
    size = wire_size(envelope.to_wire())
    if size > MAX_ENVELOPE_BYTES:
        raise InvalidMessage(
            f"{name}: the envelope is {size} bytes, over the limit of {MAX_ENVELOPE_BYTES} bytes; "
            "send an id the consumer can read the data by instead"
        )
    return envelope


class CommandBus:
    def __init__(self, outbound: Dispatcher) -> None:
        self._outbound = outbound

    def send(
        self,
        name: str,
        data: dict[str, Any],
        *,
        producer: str,
        correlation_id: str | None = None,
        caused_by: Envelope | None = None,
        on_success: str | None = None,
        on_failure: str | None = None,
        not_before: datetime | None = None,
    ) -> Envelope:
        """Tell the service named in ``name`` to do something.

        ``on_success`` / ``on_failure`` name the commands the outcome comes back as: in command
        mode the sender owns the failure, so it has to say where to be told of it.

        ``not_before`` makes the command a timer. With the outbox (the default) the relay holds
        it until it is due, then publishes it; ``messaging.operations.relay.cancel_timers`` withdraws
        timers that are no longer needed. Without the outbox it becomes a Celery ETA, which the
        broker or worker must hold: on Redis a held message is handed out again after the
        visibility timeout, so a long ETA there runs more than once.
        """
        for reply in (on_success, on_failure):
            if reply is not None:
                contracts.require_kind(reply, Kind.COMMAND)
        reply_to = ReplyTo(on_success=on_success, on_failure=on_failure) if on_success or on_failure else None
        envelope = _envelope(
            Kind.COMMAND,
            name,
            data,
            producer=producer,
            correlation_id=correlation_id,
            caused_by=caused_by,
            reply_to=reply_to,
            not_before=not_before,
        )
        self._outbound.dispatch(envelope)
        return envelope


class EventBus:
    def __init__(self, outbound: Dispatcher) -> None:
        self._outbound = outbound

    def publish(
        self,
        name: str,
        data: dict[str, Any],
        *,
        producer: str,
        correlation_id: str | None = None,
        caused_by: Envelope | None = None,
    ) -> Envelope:
        """State that something happened. Who listens is not the publisher's business."""
        envelope = _envelope(
            Kind.EVENT, name, data, producer=producer, correlation_id=correlation_id, caused_by=caused_by
        )
        self._outbound.dispatch(envelope)
        return envelope
