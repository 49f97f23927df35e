"""``python manage.py selftest [--category …]``: run the suite now, print each check as it finishes, exit 1
if any check failed or errored (for cron or CI)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from selftest.registry import CATEGORIES

MARKS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "error": "ERR ", "skipped": "SKIP"}


class Command(BaseCommand):
    help = "Run the platform's self-tests now and report; exit code 1 when a check fails."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--category", action="append", choices=CATEGORIES, help="only these (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        from core314.services import DomainError
        from selftest import services
        from selftest.drill import platform_owner
        from selftest.registry import checks_in

        owner = platform_owner()
        if owner is None:
            raise CommandError("No administrator exists yet: run `python manage.py bootstrap` first.")
        categories = options["category"] or []
        total = len(checks_in(categories or None))
        try:
            run = services.run_create(actor=None, trigger="command", categories=categories, owner=owner)
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        done = {"n": 0}

        def report(result: Any) -> None:
            done["n"] += 1
            style = (
                self.style.SUCCESS
                if result.result == "pass"
                else (self.style.WARNING if result.result in {"warn", "skipped"} else self.style.ERROR)
            )
            change = " REGRESSION" if result.regression else (" improved" if result.improvement else "")
            self.stdout.write(
                f"[{done['n']:>2}/{total}] {style(MARKS[result.result])} {result.category:<15} {result.check_name:<18}"
                f" {result.duration_ms:>8.0f} ms  {result.score:>5.0f}  {result.message}{change}"
            )

        self.stdout.write(f"Self-test run #{run.pk}: {total} check(s)")
        finished = services.run_execute(run_id=run.pk, on_result=report)
        if finished is None:  # created above as running: only another runner could have taken it meanwhile
            raise CommandError(f"Run #{run.pk} was no longer waiting to run.")
        run = finished
        verdict = self.style.SUCCESS("passed") if run.status == "passed" else self.style.ERROR(run.status)
        self.stdout.write(f"Run #{run.pk} {verdict}: health score {run.health_score}")
        if run.status != "passed":
            raise SystemExit(1)
