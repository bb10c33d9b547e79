"""Scrub card tokens from the tables that keep copies of messages (contracts/cards.py).

Until ``order.placed`` v3 and ``payment.authorize`` v2, both messages carried the whole card
token, and three mutable tables may hold copies:

- the outbox (``OutboxMessage.envelope``): every message orders sent, kept after it was sent;
- dead letters (``DeadLetter.raw``): a message a consumer gave up on, as received (JSON text,
  perhaps a Celery task body wrapping the envelope, perhaps truncated);
- the message log (``MessageLog.outcome``): what a handler returned; none returned the token,
  but it is scanned all the same.

Each stored message is rewritten as the newest contract reads it: ``order.placed`` v2 becomes
v3, and ``payment.authorize`` (one version) gets ``card_last4`` instead of ``token``. A consumer handed a rewritten message (an unsent outbox row, a
retried dead letter) parses it as the newest version, which it would have upcast to anyway.
Anything else still holding a ``payment_token`` key gets the same treatment.

The event store is not touched: it is immutable (database triggers refuse UPDATE), and its
upcaster ``order_placed_v2_to_v3`` drops the token whenever an event is read.

The logic is copied here rather than imported: a migration must keep doing what it did when it
was written, whatever the contracts become.
"""

import json
import re
from typing import Any

from django.db import migrations

DEFAULT_CARD_LAST4 = "4242"
#: (message type, version that carried a token) -> (the version without, the token's key)
TOKEN_CARRIERS = {("order.placed", 2): (3, "payment_token"), ("payment.authorize", 1): (1, "token")}
#: What is left when the JSON cannot be parsed (a truncated dead letter): a token key and its string.
#: Its closing quote may have been cut off with the rest of the body: then so was its end, and
#: no last four are known.
TOKEN_TEXT = re.compile(r'"(?:payment_token|token)"(\s*:\s*)"([^"\\]*)("?)')


def last4(token: Any) -> str:
    return token[-4:] if isinstance(token, str) and token else DEFAULT_CARD_LAST4


def scrub(value: Any) -> Any:
    """``value`` (any JSON) with every token replaced by its last four characters."""
    if isinstance(value, list):
        return [scrub(item) for item in value]
    if not isinstance(value, dict):
        return value
    carrier = TOKEN_CARRIERS.get((value.get("type"), value.get("version")))
    if carrier is not None and isinstance(value.get("data"), dict):
        version, key = carrier  # an envelope: rewritten as the newest version, token cut first
        data = {k: v for k, v in value["data"].items() if k != key}
        value = {**value, "version": version, "data": {**data, "card_last4": last4(value["data"].get(key))}}
    value = {key: scrub(item) for key, item in value.items()}
    if "payment_token" in value:
        token = value.pop("payment_token")
        value.setdefault("card_last4", last4(token))
    return value


def scrub_text(text: str) -> str:
    """A dead letter's raw body: parsed and scrubbed when it is JSON, else each token cut by pattern."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return TOKEN_TEXT.sub(lambda m: f'"card_last4"{m.group(1)}"{last4(m.group(2)) if m.group(3) else ""}"', text)
    cleaned = scrub(parsed)
    return text if cleaned == parsed else json.dumps(cleaned, default=str)


def scrub_tables(apps: Any, schema_editor: Any) -> None:
    OutboxMessage = apps.get_model("shop", "OutboxMessage")
    DeadLetter = apps.get_model("shop", "DeadLetter")
    MessageLog = apps.get_model("shop", "MessageLog")
    for message in OutboxMessage.objects.filter(envelope__icontains="token").iterator():
        cleaned = scrub(message.envelope)
        if cleaned != message.envelope:
            OutboxMessage.objects.filter(pk=message.pk).update(envelope=cleaned)
    for letter in DeadLetter.objects.filter(raw__icontains="token").iterator():
        cleaned_text = scrub_text(letter.raw)
        if cleaned_text != letter.raw:
            DeadLetter.objects.filter(pk=letter.pk).update(raw=cleaned_text)
    for entry in MessageLog.objects.filter(outcome__icontains="payment_token").iterator():
        cleaned = scrub(entry.outcome)
        if cleaned != entry.outcome:
            MessageLog.objects.filter(pk=entry.pk).update(outcome=cleaned)


class Migration(migrations.Migration):

    dependencies = [
        ("shop", "0006_injected_database_fault"),
    ]

    operations = [
        # Nothing to undo: the tokens are gone, and the rewritten messages are valid as they are.
        migrations.RunPython(scrub_tables, migrations.RunPython.noop),
    ]
