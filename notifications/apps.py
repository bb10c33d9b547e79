from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        # Subscribes this service to the events it cares about (its own queue, notifications.events).
        import notifications.handlers  # noqa: F401
