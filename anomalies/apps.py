from django.apps import AppConfig


class AnomaliesConfig(AppConfig):
    name = "anomalies"
    verbose_name = "Anomaly detection"

    def ready(self) -> None:
        from anomalies import receivers  # noqa: F401 -- importing connects them; each says what it answers
