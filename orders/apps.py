from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        # Event mode: orders reacts to inventory's outcome and to fraud's flag.
        import orders.handlers  # noqa: F401
