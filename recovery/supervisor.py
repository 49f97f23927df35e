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
import urllib.request
from concurrent.futures import ThreadPoolExecutor
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


def max_unavailable(config: dict[str, Any], replicas: int) -> int:
    """How many replicas may be down at once during a rolling change: ``max_unavailable`` (a number, or a
    share like ``"25%"``), never less than one and never all of them unless there is only one."""
    value = config.get("max_unavailable", "25%")
    share = isinstance(value, str) and value.endswith("%")
    count = int(replicas * float(value[:-1]) / 100) if share else int(value)
    return max(1, min(count, replicas - 1 if replicas > 1 else 1))


def answers(config: dict[str, Any], entry: dict[str, Any], *, timeout_s: float = 1.0) -> bool:
    """Does this replica answer its own readiness probe (``ready_url`` with ``{port}``/``{replica}`` filled
    in)? Without one, a running process is taken as ready."""
    if not alive(entry):
        return False
    url = config.get("ready_url")
    if not url:
        return True
    try:
        with urllib.request.urlopen(_fill(url, entry["replica"], config), timeout=timeout_s) as response:  # noqa: S310 -- an administrator's own process on this machine (process actuators are admin-only)
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def wait_ready(config: dict[str, Any], entry: dict[str, Any]) -> bool:
    deadline = time.monotonic() + float(config.get("ready_timeout_s", 10))
    while time.monotonic() < deadline:
        if answers(config, entry, timeout_s=0.5):
            return True
        if not alive(entry):
            return False
        time.sleep(0.1)
    return False


def failing(config: dict[str, Any], state: dict[str, Any]) -> list[dict[str, Any]]:
    """The replicas that exited or do not answer their readiness probe (checked in parallel, 1 s each)."""
    entries = list(state.get("replicas", []))
    if not entries:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(entries))) as pool:
        ok = list(pool.map(lambda e: answers(config, e), entries))
    return [entry for entry, good in zip(entries, ok, strict=True) if not good]


def rolling_replace(
    config: dict[str, Any],
    state: dict[str, Any],
    *,
    version: str,
    name: str,
    only: set[int] | None = None,
) -> tuple[dict[str, Any], list[str], bool]:
    """Replace replicas (all, or the numbers in ``only``) a batch at a time: at most ``max_unavailable`` down
    at once, the next batch only after the previous answers its probe. Stops at a replica that does not
    come back (taking down more would turn a fault into an outage). Returns (state, steps, all ready)."""
    done: list[str] = []
    timeout = float(config.get("stop_timeout_s", 5))
    entries = {e["replica"]: e for e in state.get("replicas", [])}
    targets = sorted(r for r in entries if only is None or r in only)
    size = max_unavailable(config, len(entries))
    for start in range(0, len(targets), size):
        batch = targets[start : start + size]
        for replica in batch:
            old = entries[replica]
            done.append(f"replica {replica}: pid {old['pid']} {stop(old, timeout_s=timeout)}")
            entries[replica] = spawn(config, version, replica, name=name)
            done.append(f"replica {replica}: started {version} as pid {entries[replica]['pid']}")
        for replica in batch:
            if not wait_ready(config, entries[replica]):
                done.append(f"replica {replica} did not answer its probe: stopping here")
                ordered = [entries[r] for r in sorted(entries)]
                return {**state, "version": version, "replicas": ordered}, done, False
            done.append(f"replica {replica} answers")
    ordered = [entries[r] for r in sorted(entries)]
    return {**state, "version": version, "replicas": ordered}, done, True


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
