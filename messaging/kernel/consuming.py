"""What happens to a message once a consumer has it, the same for commands and events.

1. Parse the envelope and validate its data against the contract. Anything malformed is
   dead-lettered with the reason, and no handler sees it.
2. Skip it if this consumer's inbox already has it (redelivery is normal: at-least-once).
3. Run the handler, write the inbox row and the log row in one transaction.
4. Retry failures with backoff; then a command's failure goes back to its sender (if it gave a
   return address), and an event's failure is dead-lettered by the consumer that owns it.

The caller acknowledges the broker message only after this returns, i.e. after commit.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from pydantic import BaseModel

from core.logs import message_context
from core.models import DeadLetter, InboxEntry, MessageLog
from core.rows import Exists, Insert, exist_each
from core.transient import TransientFailure, is_transient, reset_connections
from messaging.kernel import contracts, log, wiring
from messaging.kernel.envelope import MAX_ENVELOPE_BYTES, Envelope, oversized
from messaging.kernel.errors import CommandRejected, MessagingError
from messaging.kernel.names import Kind
from messaging.kernel.retry import RetryPolicy
from messaging.kernel.subscriptions import subscriptions_for
from messaging.kernel.wiring import CommandHandler

logger = logging.getLogger("shop.messaging")

#: Dead letters keep the raw body up to this many characters: every message small enough to be
#: handled is kept whole, so it can be retried (``manage.py deadletters retry``).
MAX_RAW = MAX_ENVELOPE_BYTES


@dataclass
class Result:
    status: str
    attempts: int = 0
    error: str = ""
    value: dict[str, Any] = field(default_factory=dict)
    #: A handler's refusal (CommandRejected) in its own words, for the sender's reply: the log's
    #: ``error`` adds "rejected: ", the sender gets the business reason as event mode states it.
    reason: str = ""


def dead_letter(
    consumer: str,
    source: str,
    raw: object,
    reason: str,
    *,
    envelope: Envelope | None = None,
    attempts: int = 1,
    message_id: str = "",
    message_type: str = "",
) -> Result:
    """Keep the message and why this consumer gave up on it; the caller then acknowledges it.

    ``message_id`` / ``message_type`` label a message that is not an envelope (a Celery task
    message the worker refused, say) when they are known from elsewhere, such as its headers.
    """
    text = storable(raw if isinstance(raw, str) else _dump(raw))
    reason = storable(reason)
    with transaction.atomic():
        letter = DeadLetter.objects.create(
            consumer=consumer,
            source=source,
            message_id=storable(str(envelope.id) if envelope else message_id or _guess(raw, "id"))[:100],
            message_type=storable(envelope.type if envelope else message_type or _guess(raw, "type"))[:100],
            reason=reason,
            attempts=attempts,
            raw=text[:MAX_RAW],
        )
        if envelope is not None:
            log.handled(
                envelope,
                service=consumer,
                route=source,
                status=MessageLog.Status.DEAD_LETTERED,
                attempts=attempts,
                error=reason,
            )
        # The composition root's hooks (on RabbitMQ, a copy to the `dead-letters` exchange), once
        # the row is committed. Robust: nothing run after a commit may raise into its consumer.
        for hook in wiring.after_dead_letter:
            transaction.on_commit(partial_hook(hook, letter), robust=True)
    logger.warning("dead-lettered on %s for %s: %s", source, consumer, reason)
    return Result(MessageLog.Status.DEAD_LETTERED, attempts, reason)


def deliver_event(service: str, raw: object, *, queue: str) -> Result:
    """Deliver one event to ``service``; whatever is logged meanwhile names the message."""
    with message_context(raw, consumer=service):
        return _deliver_event(service, raw, queue=queue)


def _deliver_event(service: str, raw: object, *, queue: str) -> Result:
    too_big = oversized(raw)
    if too_big:
        return dead_letter(service, queue, raw, too_big)
    try:
        envelope = Envelope.from_wire(raw)
        if envelope.kind is not Kind.EVENT:
            raise MessagingError(f"{envelope.type!r} is sent as a {envelope.kind.value}; only events belong on {queue}")
        contract = contracts.resolve(envelope.type, envelope.version)
        if contract.kind is not Kind.EVENT:
            raise MessagingError(f"{envelope.type!r} is a command's name; only events belong on {queue}")
    except MessagingError as exc:
        return dead_letter(service, queue, raw, str(exc))
    subs = subscriptions_for(service, envelope.type)
    if not subs:
        # A fanout exchange hands every service every event; this one does not care for it.
        return Result("ignored")
    try:
        payload = contracts.parse(envelope.type, contract.version, envelope.data)
    except MessagingError as exc:
        return dead_letter(service, queue, raw, str(exc), envelope=envelope)

    def run() -> dict[str, Any]:
        did = [sub.handler(envelope, payload) for sub in subs]
        return {"did": [d for d in did if d]}

    def before() -> None:
        for sub in subs:
            if sub.before is not None:
                sub.before(envelope, payload)

    policy = max((s.retry for s in subs), key=lambda p: p.max_attempts)
    result = apply_once(service, envelope, run, route=queue, policy=policy, before=before)
    if result.status == MessageLog.Status.FAILED:
        return dead_letter(service, queue, raw, result.error, envelope=envelope, attempts=result.attempts)
    return result


def deliver_command(
    service: str,
    name: str,
    raw: object,
    handler: CommandHandler,
    *,
    queue: str,
    policy: RetryPolicy,
    before: Callable[[Envelope, Any], None] | None = None,
) -> Result:
    """Deliver one command to its handler; whatever is logged meanwhile names the message."""
    with message_context(raw, consumer=service):
        return _deliver_command(service, name, raw, handler, queue=queue, policy=policy, before=before)


def _deliver_command(
    service: str,
    name: str,
    raw: object,
    handler: CommandHandler,
    *,
    queue: str,
    policy: RetryPolicy,
    before: Callable[[Envelope, Any], None] | None,
) -> Result:
    too_big = oversized(raw)
    if too_big:
        return dead_letter(service, queue, raw, too_big)
    try:
        envelope = Envelope.from_wire(raw)
        if envelope.kind is not Kind.COMMAND or envelope.type != name:
            article = "an" if envelope.kind is Kind.EVENT else "a"
            raise MessagingError(f"task {name!r} received {article} {envelope.kind.value} {envelope.type!r}")
        payload: BaseModel = contracts.parse(envelope.type, envelope.version, envelope.data)
    except MessagingError as exc:
        return dead_letter(service, queue, raw, str(exc))

    def run() -> dict[str, Any]:
        value = handler(envelope, payload) or {}
        _reply(service, envelope, ok=True, result=value)
        return value

    result = apply_once(
        service,
        envelope,
        run,
        route=queue,
        policy=policy,
        before=None if before is None else lambda: before(envelope, payload),
    )
    if result.status != MessageLog.Status.FAILED:
        return result
    if envelope.reply_to and envelope.reply_to.on_failure:
        # Command mode: the failure belongs to the sender, which asked to be told.
        with transaction.atomic():
            log.handled(
                envelope,
                service=service,
                route=queue,
                status=MessageLog.Status.FAILED,
                attempts=result.attempts,
                error=result.error,
            )
            _reply(service, envelope, ok=False, error=result.reason or result.error)
        return result
    return dead_letter(service, queue, raw, result.error, envelope=envelope, attempts=result.attempts)


def apply_once(
    service: str,
    envelope: Envelope,
    run: Callable[[], dict[str, Any]],
    *,
    route: str,
    policy: RetryPolicy,
    before: Callable[[], None] | None = None,
) -> Result:
    """Run ``run`` at most once per (service, message id), retrying failures per ``policy``.

    ``before`` runs first on each attempt, outside the transaction (a slow outside call).
    A transient failure (the database went away) is not the handler's: it raises
    ``TransientFailure`` for the broker adapter to requeue, and does not use up an attempt."""
    attempt = 0
    while True:
        attempt += 1
        started = time.perf_counter()
        try:
            seen, hooks = _checks(service, envelope)
            if seen:
                return _duplicate(service, envelope, route)
            for hook in hooks:  # the fault tier's injected failures, if installed
                hook(service, envelope.type)
            if before is not None:
                before()
            with transaction.atomic():
                # The unique (consumer, message_id) constraint settles a race between two
                # deliveries of one message: the loser writes no row here, and is a duplicate.
                # ON CONFLICT DO NOTHING rather than an IntegrityError: on PostgreSQL the loser's
                # insert waits for the winner's transaction, so a row is there once it returns.
                if not _insert_inbox(consumer=service, message_id=envelope.id, message_type=envelope.type):
                    raise _LostRace
                value = run()
                log.handled(
                    envelope,
                    service=service,
                    route=route,
                    status=MessageLog.Status.HANDLED,
                    attempts=attempt,
                    duration_ms=(time.perf_counter() - started) * 1000,
                    outcome=value,
                )
            return Result(MessageLog.Status.HANDLED, attempt, value=value)
        except _LostRace:
            return _duplicate(service, envelope, route)
        except IntegrityError:
            # Another delivery of this message committed its inbox row first: we lost the race.
            if _seen(service, envelope):
                return _duplicate(service, envelope, route)
            error = "IntegrityError while applying"
            if attempt >= policy.max_attempts:
                logger.error("%s gave up on %s after %d attempts", service, envelope.type, attempt, exc_info=True)
                return Result(MessageLog.Status.FAILED, attempt, error)
            time.sleep(policy.delay(attempt))
        except CommandRejected as exc:
            return Result(MessageLog.Status.FAILED, attempt, f"rejected: {exc}", reason=str(exc))
        except Exception as exc:  # any handler error is retried, then reported
            error = f"{type(exc).__name__}: {exc}"
            if is_transient(exc):
                # The database, not the message: retrying here would reuse a dead connection
                # within a second. Reset it and hand the message back to the broker adapter,
                # which puts it back on its queue after a backoff (core/transient.py).
                reset_connections()
                raise TransientFailure(f"{service} could not handle {envelope.type}: {error}") from exc
            if attempt >= policy.max_attempts:
                # The last word on this message: with the traceback, which the dead letter or the
                # failure reply (the reason only) does not keep.
                logger.error(
                    "%s failed on %s (attempt %d/%d), giving up: %s",
                    *(service, envelope.type, attempt, policy.max_attempts, error),
                    exc_info=True,
                )
                return Result(MessageLog.Status.FAILED, attempt, error)
            logger.info(
                "%s failed on %s (attempt %d/%d): %s", service, envelope.type, attempt, policy.max_attempts, error
            )
            time.sleep(policy.delay(attempt))


class _LostRace(Exception):
    """Raised inside the inbox transaction to roll it back: another delivery's row is there."""


#: The inbox's two statements, built once (core/rows.py says why).
_insert_inbox = Insert(InboxEntry, skip_conflicts=True)
_inbox_has = Exists(InboxEntry, "consumer", "message_id")


def _seen(service: str, envelope: Envelope) -> bool:
    return _inbox_has(service, envelope.id)


def _checks(service: str, envelope: Envelope) -> tuple[bool, list[Callable[[str, str], None]]]:
    """Whether the inbox has the message, and the ``before_handling`` hooks to run: one statement
    asks the inbox and every ``Guard``'s probe; a guard whose probe found nothing is skipped,
    a plain hook always runs."""
    hooks = wiring.before_handling
    guards = [h for h in hooks if isinstance(h, wiring.Guard)]
    seen, *found = exist_each(
        (_inbox_has, (service, envelope.id)), *((g.probe, (service, envelope.type)) for g in guards)
    )
    armed = {id(g) for g, yes in zip(guards, found, strict=True) if yes}
    due = [
        h.hook if isinstance(h, wiring.Guard) else h for h in hooks if not isinstance(h, wiring.Guard) or id(h) in armed
    ]
    return seen, due


def _duplicate(service: str, envelope: Envelope, route: str) -> Result:
    log.handled(envelope, service=service, route=route, status=MessageLog.Status.DUPLICATE)
    return Result(MessageLog.Status.DUPLICATE)


def _reply(
    service: str, envelope: Envelope, *, ok: bool, result: dict[str, Any] | None = None, error: str | None = None
) -> None:
    reply_to = envelope.reply_to
    target = None if reply_to is None else (reply_to.on_success if ok else reply_to.on_failure)
    if target is None:
        return
    wiring.bus().commands.send(
        target,
        {
            "command": envelope.type,
            "command_id": str(envelope.id),
            "ok": ok,
            "result": result or {},
            "error": error,
            "request": envelope.data,
        },
        producer=service,
        caused_by=envelope,
    )


def partial_hook(hook: Callable[[Any], None], letter: DeadLetter) -> Callable[[], None]:
    """``hook(letter)`` as a function with a ``__qualname__``, which Django's robust on_commit
    logs when the hook raises (a ``functools.partial`` has none)."""

    def run_hook() -> None:
        hook(letter)

    return run_hook


def storable(text: str) -> str:
    """``text`` with NUL characters escaped: PostgreSQL text columns cannot hold them, and a
    dead letter that cannot be written would stop the consumer (a pickle body has NULs)."""
    return text.replace("\x00", "\\x00")


def _dump(raw: object) -> str:
    if isinstance(raw, bytes | bytearray):
        return raw.decode("utf-8", "backslashreplace")  # bytes that are not UTF-8 show as \xNN
    try:
        return json.dumps(raw, default=str)
    except (TypeError, ValueError):
        return repr(raw)


def _guess(raw: object, key: str) -> str:
    return str(raw.get(key, ""))[:100] if isinstance(raw, dict) else ""
