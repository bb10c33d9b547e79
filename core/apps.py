from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    # The label of the app these tables and migrations were created under: renaming it would
    # rename every table and orphan the migration history of every existing database.
    label = "shop"
    verbose_name = "Messaging"

    def ready(self) -> None:
        import contracts  # noqa: F401  (registers every message contract)
