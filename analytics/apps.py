from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        # Subscribes this service to the events it cares about (its own queue, analytics.events).
        import analytics.handlers  # noqa: F401
