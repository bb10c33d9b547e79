from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self) -> None:
        # Subscribes this service to the events it cares about (its own queue, inventory.events).
        import inventory.handlers  # noqa: F401
