"""`python manage.py backtest INPUT.csv --output OUT.csv [--labels L.csv]`: replay through the detector."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management import BaseCommand, CommandError

from anomalies import backtest


class Command(BaseCommand):
    help = backtest.__doc__.split("\n\n")[0]
    requires_system_checks: list[str] = []  # needs no database, broker or migrations
    requires_migrations_checks = False

    def add_arguments(self, parser: Any) -> None:
        backtest.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = backtest.run(
                options["input"],
                options["output"],
                config=backtest.config_from(options),
                history=options["history"],
                labels=options["labels"],
                progress=backtest.terminal_progress(sys.stderr) if sys.stderr.isatty() else None,
            )
        except (backtest.BacktestError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(backtest.report(result))
