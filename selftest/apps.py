from django.apps import AppConfig


class SelftestConfig(AppConfig):
    name = "selftest"
    verbose_name = "Self-tests"
