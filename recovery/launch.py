"""Start one supervised process detached from its caller, then exit.

A Celery worker that ``Popen``s a long-lived child must reap it, or it becomes a zombie when it exits. We
start the child from this short-lived launcher instead: it puts the child in its own session, prints the
child's pid and start time as JSON, and exits, so the child is re-parented to init, which reaps it.
Usage: ``python -m recovery.launch`` with ``{"argv": [...], "env": {...}, "cwd": "...", "log": "..."}`` on stdin.
"""

from __future__ import annotations

import json
import subprocess
import sys

import psutil


def main() -> None:
    spec = json.load(sys.stdin)
    with open(spec["log"], "ab") as log:
        child = subprocess.Popen(
            spec["argv"],
            env=spec["env"],
            cwd=spec.get("cwd") or None,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    print(json.dumps({"pid": child.pid, "create_time": psutil.Process(child.pid).create_time()}))


if __name__ == "__main__":
    main()
