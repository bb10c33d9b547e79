"""``python manage.py seed_catalog [--reset]``: the demo catalog; see catalog/services.py.

``make run`` calls it on every start, so by default it must be harmless on a live shop: it
creates what is missing and keeps the rest. ``--reset`` restores the seeded values on purpose.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from catalog.services import seed_catalog


class Command(BaseCommand):
    help = (
        "Create the demo products and customers that are missing; existing ones (and their stock) are kept. "
        "--reset restores the seeded names, prices and stock."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Overwrite existing demo products and customers with the seeded values, stock included. "
            "Never on a shop with open orders: their reservations would be counted twice.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = seed_catalog(reset=options["reset"])
        for line in report.lines():
            self.stdout.write(f"catalog {line}")
        self.stdout.write(
            self.style.SUCCESS(
                f"catalog: {len(report.created)} created, {len(report.kept)} kept, {len(report.reset)} reset"
            )
        )
