"""Start the whole stack under one supervisor: daphne, a Celery worker and exactly one Celery beat.

Ctrl-C stops every process. Run through ``python -m core314.embedded exec --`` (as ``make run`` does)
to get embedded PostgreSQL and Redis when DATABASE_URL / REDIS_URL are unset.
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import Any

from django.conf import settings
from django.core.management import BaseCommand, call_command
from honcho.manager import Manager


class Command(BaseCommand):
    help = "Bootstrap the database, then run daphne, a Celery worker and Celery beat until Ctrl-C."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("CORE314_BIND", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("CORE314_PORT", "8314")))
        parser.add_argument("--concurrency", type=int, default=int(os.environ.get("CELERY_CONCURRENCY", "2")))
        parser.add_argument("--no-beat", action="store_true", help="Another machine runs the one beat.")
        parser.add_argument("--no-bootstrap", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        web_url = f"http://{'127.0.0.1' if options['host'] == '0.0.0.0' else options['host']}:{options['port']}"  # noqa: S104 -- only compared with, never bound
        if not options["no_bootstrap"]:
            call_command("bootstrap", stdout=self.stdout, web_url=web_url, start_demo=True)
        python = sys.executable
        env = {
            **os.environ,
            "DATABASE_URL": settings.DATABASE_URL,
            "REDIS_URL": settings.REDIS_URL,
            "PYTHONUNBUFFERED": "1",
        }
        host, port = options["host"], options["port"]
        processes = {
            "web": [python, "-m", "daphne", "-b", host, "-p", str(port), "core314.asgi:application"],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "core314",
                "worker",
                "-l",
                "INFO",
                "-E",
                "-c",
                str(options["concurrency"]),
                "-n",
                f"worker-{os.getpid()}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
        }
        if not options["no_beat"]:
            processes["beat"] = [python, "-m", "celery", "-A", "core314", "beat", "-l", "INFO", "--pidfile="]
        manager = Manager()
        for name, argv in processes.items():
            manager.add_process(name, shlex.join(argv), env=env, cwd=str(settings.BASE_DIR))
        shown = "localhost" if host in {"127.0.0.1", "0.0.0.0"} else host  # noqa: S104 -- a display name only
        self.stdout.write(self.style.SUCCESS(f"\nCore314 Stability is starting on http://{shown}:{port}/"))
        self.stdout.write(f"  readiness: http://{shown}:{port}/readyz   (Ctrl-C stops everything)\n")
        try:
            manager.loop()
        finally:
            # The demo service runs in its own session (it must survive worker restarts): stop it with the stack.
            from core314.demo.services import demo_stop
            from core314.services import DomainError
            from selftest.drill import platform_owner

            owner = platform_owner()
            if owner is not None:
                try:
                    demo_stop(owner=owner)
                except DomainError as exc:  # the stack stops anyway; say what was left running
                    self.stderr.write(f"the demo service could not be stopped: {exc}")
        # Ctrl-C (130) or a TERM (143) is how an operator stops the stack: a normal end, not a failure.
        sys.exit(0 if manager.returncode in (None, 130, 143) else manager.returncode)
