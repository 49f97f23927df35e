"""Prepare a database for use: migrate, an administrator, the beat schedule and the demo data.

Safe to run at every start: nothing is duplicated.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import BaseCommand, call_command
from django.db import transaction

from core314 import services
from core314.celery import sync_beat_schedule
from health.services import platform_components_ensure


class Command(BaseCommand):
    help = "Migrate, create the administrator (printing its login once), sync beat jobs and demo data."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--admin-username", default="admin")
        parser.add_argument("--no-demo", action="store_true", help="Skip the demo data.")
        parser.add_argument("--start-demo", action="store_true", help="Start the demo service (make run does).")
        parser.add_argument(
            "--web-url",
            default=settings.CORE314_PUBLIC_URL,
            help="Where this server answers, for its self-probe.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write("[1/4] Applying migrations…")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("[2/4] Administrator…")
        admin = self._ensure_admin(options["admin_username"])
        self.stdout.write("[3/4] Beat schedule…")
        jobs = sync_beat_schedule()
        self.stdout.write(f"      {jobs} periodic job(s) declared")
        if not options["no_demo"]:
            self.stdout.write("[4/4] Demo data…")
            with transaction.atomic():
                components = platform_components_ensure(actor=None, owner=admin, web_url=options["web_url"])
            self.stdout.write(f"      {len(components)} platform component(s)")
            from core314.demo.services import demo_ensure, demo_start

            demo = demo_ensure(owner=admin)
            if options["start_demo"]:
                running = demo_start(owner=admin)
                self.stdout.write(
                    f"      demo service {demo.name} on http://127.0.0.1:{settings.CORE314_DEMO_PORT}/ "
                    f"({running['replicas']} replica(s), pids {running['pids']})"
                )
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)

    def _ensure_admin(self, username: str) -> Any:
        user_model = get_user_model()
        admin = user_model.objects.filter(username=username).first()
        if admin is not None:
            self.stdout.write(
                f"      administrator '{username}' exists (its password was printed when it was created; "
                f"reset it with: python manage.py changepassword {username})"
            )
            return admin
        password = settings.CORE314_ADMIN_PASSWORD or secrets.token_urlsafe(12)
        admin = services.user_create(actor=None, username=username, password=password, is_superuser=True)
        self.stdout.write(self.style.SUCCESS(f"      administrator created: {username} / {password}"))
        self.stdout.write("      (shown once: note it now)")
        return admin
