from django.apps import AppConfig


class ReadModelConfig(AppConfig):
    name = "readmodel"
    verbose_name = "Read model"

    def ready(self) -> None:
        # Subscribes the projector to the order stream's events (its own queue, projector.events).
        import readmodel.handlers  # noqa: F401
