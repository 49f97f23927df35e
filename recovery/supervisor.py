"""Local processes the platform supervises: start, stop, restart, N replicas, switch version.

What runs is recorded in the actuator's ``state`` (``{"version": "v1", "replicas": [{"replica": 0, "pid": …,
"create_time": …}]}``), so any worker process can act on it; a pid counts as ours only while its start time
matches (pids are reused). Each replica is its own session and process group, stopped with SIGTERM, then
SIGKILL after ``stop_timeout_s``. Commands are argument lists, never a shell; ``{replica}`` and ``{port}``
(``port_base`` + replica) in arguments are filled in.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from django.conf import settings

# The child gets a small, explicit environment: not the platform's secrets.
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "HOME", "TZ", "PYTHONPATH", "VIRTUAL_ENV")


class SupervisorError(RuntimeError):
    pass


def _log_dir() -> Path:
    path = Path(settings.BASE_DIR) / ".data" / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fill(value: str, replica: int, config: dict[str, Any]) -> str:
    port = config.get("port_base", 0) + replica if config.get("port_base") else ""
    return value.replace("{replica}", str(replica)).replace("{port}", str(port))


def spawn(config: dict[str, Any], version: str, replica: int, *, name: str) -> dict[str, Any]:
    spec = config["versions"][version]
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.update({k: _fill(str(v), replica, config) for k, v in spec.get("env", {}).items()})
    env["CORE314_REPLICA"] = str(replica)
    env["CORE314_VERSION"] = version
    job: dict[str, Any] = {
        "argv": [_fill(arg, replica, config) for arg in spec["argv"]],
        "env": env,
        "cwd": spec.get("cwd") or str(settings.BASE_DIR),
        "log": str(_log_dir() / f"{name}-{replica}.log"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "recovery.launch"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=15,
        cwd=str(settings.BASE_DIR),
        check=False,
    )
    if done.returncode != 0:
        raise SupervisorError(f"could not start {job['argv'][0]}: {done.stderr.strip()[-300:]}")
    started = json.loads(done.stdout)
    return {"replica": replica, "version": version, **started}


def alive(entry: dict[str, Any]) -> bool:
    try:
        process = psutil.Process(entry["pid"])
        return abs(process.create_time() - entry["create_time"]) < 0.01 and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, KeyError):
        return False


def stop(entry: dict[str, Any], *, timeout_s: float) -> str:
    """Stop one replica's process group: SIGTERM, then SIGKILL. Returns how it ended."""
    if not alive(entry):
        return "already gone"
    pid = entry["pid"]
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return "already gone"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive(entry):
            return "stopped"
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return "stopped"
    deadline = time.monotonic() + 5
    while alive(entry) and time.monotonic() < deadline:
        time.sleep(0.05)
    return "killed"


def running(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry for entry in state.get("replicas", []) if alive(entry)]


def describe(state: dict[str, Any]) -> dict[str, Any]:
    live = running(state)
    return {
        "version": state.get("version"),
        "replicas": len(live),
        "pids": [entry["pid"] for entry in live],
        "dead": len(state.get("replicas", [])) - len(live),
    }


def converge(
    config: dict[str, Any], state: dict[str, Any], *, version: str, replicas: int, name: str, restart: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """Make ``replicas`` processes of ``version`` run; returns the new state and what was done.

    Replicas of another version, dead replicas and (with ``restart``) all replicas are replaced.
    """
    done: list[str] = []
    timeout = float(config.get("stop_timeout_s", 5))
    keep: list[dict[str, Any]] = []
    for entry in sorted(state.get("replicas", []), key=lambda e: e["replica"]):
        wrong = restart or entry.get("version") != version or entry["replica"] >= replicas
        if not alive(entry):
            done.append(f"replica {entry['replica']} (pid {entry['pid']}) was not running")
        elif wrong:
            done.append(f"replica {entry['replica']}: pid {entry['pid']} {stop(entry, timeout_s=timeout)}")
        else:
            keep.append(entry)
    have = {entry["replica"] for entry in keep}
    for replica in range(replicas):
        if replica not in have:
            entry = spawn(config, version, replica, name=name)
            keep.append(entry)
            done.append(f"replica {replica}: started {version} as pid {entry['pid']}")
    keep.sort(key=lambda e: e["replica"])
    return {"version": version, "replicas": keep, "desired": replicas}, done
