from django.apps import AppConfig


class FraudConfig(AppConfig):
    name = "fraud"
    verbose_name = "Fraud detection"

    def ready(self) -> None:
        # Subscribes this service to the events it cares about (its own queue, fraud.events).
        import fraud.handlers  # noqa: F401
