from django.apps import AppConfig


class MessagingConfig(AppConfig):
    """No models: an app so that the composition root runs once the models are loaded."""

    name = "messaging"
    verbose_name = "Messaging kernel and its adapters"

    def ready(self) -> None:
        # In ready(): the composition root imports the kernel, which imports the models.
        from messaging import bootstrap

        bootstrap.install()
