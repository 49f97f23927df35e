"""The demo's fault file: which faults exist, where the file lives, and its atomic write.

Kept apart from the demo's services (which reach into every step of the loop) so the System Monitor can list
the fault kinds without depending on them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings

FAULT_KINDS = ("latency", "errors", "leak", "cpu", "hang", "crash", "bad_release")


def faults_path() -> Path:
    from core314.embedded import data_dir

    return Path(settings.CORE314_DEMO_FAULTS or data_dir() / "demo-faults.json")


def write_faults(faults: list[dict[str, Any]]) -> None:
    path = faults_path()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"faults": faults}))
    tmp.replace(path)  # atomic: a replica never reads half a file
