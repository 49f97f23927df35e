from django.apps import AppConfig


class Core314Config(AppConfig):
    name = "core314"
    verbose_name = "Platform"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from core314 import celery_hooks  # noqa: F401 -- connects worker heartbeat and task timing signals
        from core314.celery import sync_beat_schedule_after_migrate

        post_migrate.connect(sync_beat_schedule_after_migrate, sender=self)
