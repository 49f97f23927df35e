from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    name = "recovery"
    verbose_name = "Self-healing"

    def ready(self) -> None:
        from recovery import receivers  # noqa: F401 -- importing connects them; each says what it answers
