"""The outbox relay: publishes what the outbox holds, and marks a message sent only once the
broker has confirmed it (RabbitMQ publisher confirms; a Redis LPUSH has returned).

Two paths share this code: the fast path publishes a transaction's messages right after it
commits, in the same process; the sweeper (``manage.py relay_outbox``) picks up whatever the fast
path could not send (broker down, process died). Rows are claimed with ``SELECT … FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so any number of relays can run without publishing a row twice. SQLite
has one writer, which serializes relays by itself.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone

from core.logs import context_of, message_context, remember_context
from core.models import OutboxMessage
from messaging.kernel import log
from messaging.kernel.envelope import Envelope
from messaging.kernel.outbound import Transport, due

logger = logging.getLogger("shop.messaging")


class Relay:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        #: Why the last publish failed ("ConnectionError: ..."), or "" once one succeeded: the
        #: sweeper's loop reports a broker outage once, not once per row and sweep.
        self.failure = ""
        #: The ids of the message whose publish failed last (for the relay's log line).
        self.failed_message: dict[str, str] = {}

    def send_one(self, message_id: uuid.UUID) -> bool:
        """Fast path: publish one message now if nobody else has. False if not sent."""
        return self.publish_now(message_id) == ""

    def publish_now(self, message_id: uuid.UUID, envelope: Envelope | None = None) -> str | None:
        """Publish one message now if nobody else has: "" once sent, why it failed if it did
        (the row stays pending), None if there was nothing to send (sent, or being sent).

        ``envelope``: the fast path's own copy of what it just wrote. The row is claimed all the
        same (locked, still unsent), but not read back, decoded and validated again."""
        if envelope is not None:
            with transaction.atomic():
                if not _claim(message_id):
                    return None
                with message_context(_ids(envelope), consumer="relay"):
                    return self._publish_claimed(envelope)
        with transaction.atomic():
            row = (
                OutboxMessage.objects.select_for_update(skip_locked=True)
                .filter(pk=message_id, sent_at__isnull=True)
                .first()
            )
            return None if row is None else self._publish(row)

    def sweep(self, *, limit: int = 200) -> int:
        """Publish up to ``limit`` pending messages, oldest first; stop at the first failure
        (the broker is most likely down, and order is best kept). Returns how many were sent;
        ``failure`` says why the sweep stopped early, or is "" if it did not."""
        self.failure = ""
        sent = 0
        with transaction.atomic():
            rows = list(
                OutboxMessage.objects.select_for_update(skip_locked=True)
                .filter(due(), sent_at__isnull=True)
                .order_by("created_at")[:limit]
            )
            for row in rows:
                if self._publish(row):
                    break
                sent += 1
        return sent

    def _publish(self, row: OutboxMessage) -> str:
        """Publish the row: "" once sent, else why not (the row stays pending)."""
        with message_context(row.envelope, consumer="relay"):
            try:
                return self._publish_row(row)
            except Exception as exc:
                # Whoever logs this (the relay's loop, after the transaction rolled back) is
                # outside this context by then: the exception carries the message's ids.
                remember_context(exc, context_of(row.envelope))
                raise

    def _publish_claimed(self, envelope: Envelope) -> str:
        """``_publish_row`` for a row claimed by ``_claim``: the same outcome, in SQL built once."""
        started = time.perf_counter()
        try:
            route = self.transport.deliver(envelope)
        except Exception as exc:  # noqa: BLE001 - any broker error leaves the row for a later try
            failure = self.failure = f"{type(exc).__name__}: {exc}"[:2000]
            self.failed_message = context_of(_ids(envelope))
            _mark(envelope.id, sent=False, error=failure)
            logger.debug("outbox: %s %s not published yet: %s", envelope.type, envelope.id, failure)
            return failure
        self.failure = ""
        _mark(envelope.id, sent=True, error="")
        log.sent(envelope, route=route, duration_ms=(time.perf_counter() - started) * 1000)
        return ""

    def _publish_row(self, row: OutboxMessage) -> str:
        envelope = Envelope.from_wire(row.envelope)
        row.attempts += 1
        started = time.perf_counter()
        try:
            route = self.transport.deliver(envelope)
        except Exception as exc:  # noqa: BLE001 - any broker error leaves the row for a later try
            failure = f"{type(exc).__name__}: {exc}"[:2000]
            row.last_error = self.failure = failure
            self.failed_message = context_of(row.envelope)
            row.save(update_fields=["attempts", "last_error"])
            logger.debug("outbox: %s %s not published yet: %s", envelope.type, envelope.id, failure)
            return failure
        self.failure = ""
        row.sent_at = timezone.now()
        row.last_error = ""
        row.save(update_fields=["attempts", "last_error", "sent_at"])
        log.sent(envelope, route=route, duration_ms=(time.perf_counter() - started) * 1000)
        return ""


def _ids(envelope: Envelope) -> dict[str, Any]:
    """The ids ``context_of`` reads from a row's envelope, from the envelope itself."""
    return {
        "id": str(envelope.id),
        "type": envelope.type,
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id or "",
    }


def _claim(message_id: uuid.UUID) -> bool:
    """Lock the row if it is still unsent and nobody else holds it (``SELECT … FOR UPDATE SKIP
    LOCKED`` where the database has it; SQLite's one writer serializes relays by itself)."""
    connection = connections[router.db_for_write(OutboxMessage)]
    meta, quote = OutboxMessage._meta, connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column or "id")
    sql = f"SELECT 1 FROM {table} WHERE {pk} = %s AND {quote('sent_at')} IS NULL"
    if connection.features.has_select_for_update_skip_locked:
        sql += " FOR UPDATE SKIP LOCKED"
    with connection.cursor() as cursor:
        cursor.execute(sql, [meta.pk.get_db_prep_value(message_id, connection)])
        return cursor.fetchone() is not None


def _mark(message_id: uuid.UUID, *, sent: bool, error: str) -> None:
    """One more attempt on a claimed row: sent now, or not, and why."""
    connection = connections[router.db_for_write(OutboxMessage)]
    meta, quote = OutboxMessage._meta, connection.ops.quote_name
    sets = f"{quote('attempts')} = {quote('attempts')} + 1, {quote('last_error')} = %s"
    params: list[Any] = [error]
    if sent:
        sets += f", {quote('sent_at')} = %s"
        params.append(meta.get_field("sent_at").get_db_prep_save(timezone.now(), connection))
    params.append(meta.pk.get_db_prep_value(message_id, connection))
    with connection.cursor() as cursor:
        table, pk = quote(meta.db_table), quote(meta.pk.column or "id")
        cursor.execute(f"UPDATE {table} SET {sets} WHERE {pk} = %s", params)
