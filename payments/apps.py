from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        # Subscribes this service to the events it cares about (its own queue, payments.events).
        import payments.handlers  # noqa: F401
