from django.apps import AppConfig


class AnomaliesConfig(AppConfig):
    name = "anomalies"
    verbose_name = "Anomaly detection"
