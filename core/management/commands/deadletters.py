"""``manage.py deadletters``: list dead letters, and send them back to their own consumer.

    manage.py deadletters list [--consumer analytics] [--pending]
    manage.py deadletters retry 12 15
    manage.py deadletters retry --all [--consumer analytics]

A retried event goes to the one queue of the consumer that dead-lettered it (never through the
``events`` exchange, which would reach every service); a command goes back to its command queue.
The logic is in ``messaging/operations/deadletters.py``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from core.models import DeadLetter
from messaging.operations import deadletters


def _when(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _short(text: str, length: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1] + "…"


class Command(BaseCommand):
    help = "List dead letters, or retry them: each goes back to the consumer that gave up on it, and only to it."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{list,retry}")
        listing = actions.add_parser("list", help="Show dead letters, oldest first.")
        listing.add_argument("--consumer", help="Only this consumer's dead letters (e.g. analytics).")
        listing.add_argument("--pending", action="store_true", help="Only those not retried yet.")
        retrying = actions.add_parser("retry", help="Send dead letters back to their own consumer.")
        retrying.add_argument("ids", nargs="*", type=int, metavar="ID", help="Dead letters to retry.")
        retrying.add_argument("--all", action="store_true", help="Every dead letter not retried yet.")
        retrying.add_argument("--consumer", help="With --all: only this consumer's dead letters.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            self.list_letters(options["consumer"], pending_only=options["pending"])
        else:
            self.retry_letters(options["ids"], every=options["all"], consumer=options["consumer"])

    def list_letters(self, consumer: str | None, *, pending_only: bool) -> None:
        rows = list(deadletters.letters(consumer, pending_only=pending_only))
        if not rows:
            self.stdout.write("No dead letters.")
            return
        self.stdout.write(
            f"{'id':>5}  {'consumer':13} {'source':18} {'message':26} {'tries':>5}  "
            f"{'dead-lettered':19}  {'retried':19}  reason"
        )
        for row in rows:
            self.stdout.write(
                f"{row.pk:>5}  {row.consumer:13} {_short(row.source, 18):18} {_short(row.message_type or '?', 26):26} "
                f"{row.attempts:>5}  {_when(row.created_at):19}  {_when(row.retried_at):19}  {_short(row.reason, 90)}"
            )
        retried = sum(1 for row in rows if row.retried_at)
        self.stdout.write(f"{len(rows)} dead letters, {retried} retried.")

    def retry_letters(self, ids: list[int], *, every: bool, consumer: str | None) -> None:
        if every == bool(ids):
            raise CommandError("name the dead letters to retry (IDs), or --all; not both")
        if consumer and not every:
            raise CommandError("--consumer goes with --all")
        if every:
            rows = list(deadletters.letters(consumer, pending_only=True))
        else:
            found = {row.pk: row for row in DeadLetter.objects.filter(pk__in=ids)}
            missing = [pk for pk in ids if pk not in found]
            if missing:
                raise CommandError(f"no dead letter with id {', '.join(map(str, missing))}")
            rows = [found[pk] for pk in dict.fromkeys(ids)]
        if not rows:
            self.stdout.write("Nothing to retry.")
            return
        outcomes = deadletters.retry_many(rows)
        for outcome in outcomes:
            line = f"dead letter {outcome.letter_id}: {outcome.detail}"
            self.stdout.write(self.style.SUCCESS(line) if outcome.retried else self.style.WARNING(line))
        failed = [o for o in outcomes if not o.retried]
        self.stdout.write(f"Retried {len(outcomes) - len(failed)} of {len(outcomes)}.")
        if failed:
            raise CommandError(f"{len(failed)} dead letter(s) could not be retried (see above)")
