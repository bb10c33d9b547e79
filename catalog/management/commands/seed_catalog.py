from typing import Any

from django.core.management.base import BaseCommand

from catalog.services import seed_catalog


class Command(BaseCommand):
    help = "Load (or reset) the demo products and customers."

    def handle(self, *args: Any, **options: Any) -> None:
        products, customers = seed_catalog()
        self.stdout.write(self.style.SUCCESS(f"catalog: {products} products, {customers} customers"))
