from django.apps import AppConfig


class LessonConfig(AppConfig):
    name = "lesson"
    verbose_name = "The lesson: commands vs events"
