from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = "Messaging"

    def ready(self) -> None:
        import shop.contracts  # noqa: F401  (registers every message contract)
