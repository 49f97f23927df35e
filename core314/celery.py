"""The Celery app and the beat schedule.

The schedule is declared here and synced into django-celery-beat's tables after every migrate, keyed on
the task's name with update_or_create, so an operator's change of interval in the admin survives a restart
only until the next deploy declares otherwise. Exactly one beat process may run.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core314.settings")

app = Celery("core314")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# name → (task, interval in seconds). Apps add their jobs here as the loop grows.
def beat_schedule() -> dict[str, tuple[str, float]]:
    from django.conf import settings

    return {
        "platform-heartbeat": ("core314.platform_heartbeat", 10.0),
        "health-probes": ("health.run_due_probes", settings.CORE314_PROBE_TICK),
        # Twice per window, so a closed window is rolled up (and detection runs) half a window sooner.
        "health-rollup": ("health.rollup", max(1.0, settings.CORE314_ROLLUP_INTERVAL / 2)),
        "health-retention": ("health.retention", 86_400.0),
        "anomalies-sweep": ("anomalies.sweep", 30.0),
        "recovery-cycle": ("recovery.cycle", settings.CORE314_HEALING_CYCLE),
        # Exited supervised processes are noticed on the probe tick (restart, with backoff, through the engine).
        "recovery-supervise": ("recovery.supervise", settings.CORE314_PROBE_TICK),
        "selftest-suite": ("selftest.scheduled", float(settings.CORE314_SELFTEST_INTERVAL)),
    }


def sync_beat_schedule() -> int:
    """Create or update one PeriodicTask per declared job; returns how many were written."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

    written = 0
    for name, (task, seconds) in beat_schedule().items():
        every = max(1, round(seconds))
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.update_or_create(name=name, defaults={"task": task, "interval": interval, "enabled": True})
        written += 1
    PeriodicTasks.update_changed()
    return written


def sync_beat_schedule_after_migrate(sender: Any, **kwargs: Any) -> None:
    sync_beat_schedule()
