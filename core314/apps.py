from django.apps import AppConfig


class Core314Config(AppConfig):
    name = "core314"
    verbose_name = "Platform"

    def ready(self) -> None:
        from django.conf import settings
        from django.contrib.auth.signals import user_logged_in, user_login_failed
        from django.core.exceptions import ImproperlyConfigured
        from django.db.models.signals import post_migrate

        from core314 import (
            celery_hooks,  # noqa: F401 -- connects worker heartbeat and task timing signals
            lockout,
        )
        from core314.celery import sync_beat_schedule_after_migrate
        from core314.throttling import parse_rate

        post_migrate.connect(sync_beat_schedule_after_migrate, sender=self)
        user_login_failed.connect(lockout.on_login_failed, dispatch_uid="core314.lockout.failed")
        user_logged_in.connect(lockout.on_logged_in, dispatch_uid="core314.lockout.logged_in")
        for name in ("CORE314_API_RATE", "CORE314_API_USER_RATE"):
            try:
                parse_rate(getattr(settings, name))
            except ValueError as exc:
                raise ImproperlyConfigured(f"{name}: {exc}") from None
