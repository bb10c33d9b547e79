from django.apps import AppConfig


class FraudConfig(AppConfig):
    name = "fraud"
    verbose_name = "Fraud detection"

    def ready(self) -> None:
        # Subscribes this service to the events it cares about (its own queue, fraud.events).
        import fraud.handlers  # noqa: F401
        from contracts.fraud import require_risk_verdict

        # No order is confirmed before this service has judged it: installing fraud is the only
        # change that takes (orders reads the flag and never names this app).
        require_risk_verdict()
