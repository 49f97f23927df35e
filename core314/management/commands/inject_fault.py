"""``python manage.py inject_fault <kind> [--ms N] [--rate R]``: inject a fault into the demo service."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core314.demo.faults import FAULT_KINDS


class Command(BaseCommand):
    help = "Inject a fault into the demo service (as the first administrator); `clear` removes them."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("kind", choices=[*FAULT_KINDS, "clear"])
        parser.add_argument("--ms", type=float, help="latency: milliseconds added (default 800)")
        parser.add_argument("--rate", type=float, help="errors: share of requests that fail (default 0.5)")

    def handle(self, *args: Any, **options: Any) -> None:
        from core314.demo import services
        from core314.services import DomainError

        admin = get_user_model().objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if admin is None:
            raise CommandError("No administrator exists: run `python manage.py bootstrap` first.")
        try:
            if options["kind"] == "clear":
                services.faults_clear(actor=admin)
                self.stdout.write("faults cleared (running replicas keep theirs until restarted)")
                return
            done = services.fault_inject(actor=admin, kind=options["kind"], ms=options["ms"], rate=options["rate"])
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"injected {done['kind']} into {done['component']}"))
