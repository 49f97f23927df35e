"""``clear_cache`` and ``reset_connection``: act on a component's cache or PostgreSQL server.

Both read the component's actuator config from the context (``context["actuator"]``: kind and config).
"""

from __future__ import annotations

import time
from typing import Any

from core314 import egress
from recovery.executors.base import ParameterError, Plan, Result

SCAN_BATCH = 500


class ClearCache:
    """Delete the keys under a prefix (or the whole database, when asked for explicitly)."""

    action_type = "clear_cache"

    def clean(self, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("prefix", "")
        everything = params.get("all", False)
        if not isinstance(prefix, str) or len(prefix) > 200 or any(c in prefix for c in "*?[]"):
            raise ParameterError("prefix must be a plain string (no glob characters) of at most 200 characters")
        if not isinstance(everything, bool):
            raise ParameterError("all must be true or false")
        if not prefix and not everything:
            raise ParameterError("give a prefix, or all=true to clear the whole cache database")
        return {"prefix": prefix, "all": everything}

    @staticmethod
    def _refusal(params: dict[str, Any], context: dict[str, Any]) -> str:
        """Why this component may not do this (empty: it may). Checked when planning and again when executing."""
        config = context["actuator"]["config"]
        privileged = bool(context.get("privileged"))
        if "django_cache" in config and not privileged:
            return "only an administrator's actuator may clear the platform's own caches (django_cache)"
        if params["all"] and not privileged:
            return "a whole-database flush (all=true) needs an administrator's actuator; give a prefix instead"
        return ""

    def plan(self, params: dict[str, Any], context: dict[str, Any]) -> Plan:
        config = context["actuator"]["config"]
        refusal = self._refusal(params, context)
        if refusal:
            raise ParameterError(refusal)
        if config.get("url"):
            where = "the Redis database at the actuator's URL"
        else:
            where = f"cache {config.get('django_cache')!r}"
        what = "every key" if params["all"] else f"the keys starting with {params['prefix']!r}"
        return Plan(self.action_type, [f"delete {what} in {where}"], {"prefix": params["prefix"], "all": params["all"]})

    def execute(self, params: dict[str, Any], context: dict[str, Any], *, timeout_s: float) -> Result:
        started = time.perf_counter()
        config = context["actuator"]["config"]
        refusal = self._refusal(params, context)
        if refusal:
            return Result(False, f"refused: {refusal}", {}, _ms(started))
        if "django_cache" in config:
            from django.core.cache import caches

            cache = caches[config["django_cache"]]
            if params["all"]:
                cache.clear()
                return Result(True, f"cleared cache {config['django_cache']!r}", {}, _ms(started))
            raise ParameterError("a Django cache can only be cleared whole (all=true)")
        policy = egress.policy_for(privileged=bool(context.get("privileged")))
        try:
            client = egress.redis_client(
                config["url"], policy=policy, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
            )
            client.ping()  # connects (through the guard) before anything is deleted
        except egress.EgressRefused as exc:
            return Result(False, f"refused by the egress guard: {exc}", {}, _ms(started))
        try:
            if params["all"]:
                client.flushdb()
                return Result(True, "cleared the whole cache database", {}, _ms(started))
            deleted = 0
            batch: list[bytes] = []
            deadline = time.monotonic() + timeout_s
            for key in client.scan_iter(match=_escape(params["prefix"]) + "*", count=SCAN_BATCH):
                batch.append(key)
                if len(batch) >= SCAN_BATCH:
                    deleted += client.unlink(*batch)
                    batch = []
                if time.monotonic() > deadline:
                    return Result(False, f"timed out after deleting {deleted} keys", {"deleted": deleted}, _ms(started))
            if batch:
                deleted += client.unlink(*batch)
            return Result(
                True, f"deleted {deleted} keys under {params['prefix']!r}", {"deleted": deleted}, _ms(started)
            )
        finally:
            client.close()


class ResetConnection:
    """Terminate a PostgreSQL server's idle-in-transaction sessions, or one application's sessions."""

    action_type = "reset_connection"

    def clean(self, params: dict[str, Any]) -> dict[str, Any]:
        application = params.get("application_name", "")
        idle = params.get("idle_in_transaction", not application)
        if not isinstance(application, str) or len(application) > 64:
            raise ParameterError("application_name must be a string of at most 64 characters")
        if not isinstance(idle, bool):
            raise ParameterError("idle_in_transaction must be true or false")
        if not application and not idle:
            raise ParameterError("give application_name, or idle_in_transaction=true")
        return {"application_name": application, "idle_in_transaction": idle}

    @staticmethod
    def _where(params: dict[str, Any]) -> tuple[str, list[Any]]:
        clauses, args = ["pid <> pg_backend_pid()", "datname = current_database()"], []
        if params["application_name"]:
            clauses.append("application_name = %s")
            args.append(params["application_name"])
        if params["idle_in_transaction"]:
            clauses.append("state IN ('idle in transaction', 'idle in transaction (aborted)')")
        return " AND ".join(clauses), args

    @staticmethod
    def _connect(context: dict[str, Any], timeout_s: float) -> Any:
        """A connection to the actuator's server, through the egress guard; ParameterError when it refuses."""
        policy = egress.policy_for(privileged=bool(context.get("privileged")))
        try:
            return egress.postgres_connect(
                context["actuator"]["config"]["dsn"], policy=policy, connect_timeout=max(1, round(timeout_s))
            )
        except egress.EgressRefused as exc:
            raise ParameterError(f"refused by the egress guard: {exc}") from exc

    def plan(self, params: dict[str, Any], context: dict[str, Any]) -> Plan:
        where, args = self._where(params)
        with self._connect(context, 5) as conn:
            query = f"SELECT pid, application_name, state FROM pg_stat_activity WHERE {where}"  # noqa: S608 -- fixed clauses; every value is a bound parameter
            rows = conn.execute(query, args).fetchall()  # the clauses are fixed; values are bound
        steps = [f"terminate session {pid} ({app or 'no application name'}, {state})" for pid, app, state in rows]
        return Plan(self.action_type, steps or ["nothing: no session matches"], {"sessions": len(rows)})

    def execute(self, params: dict[str, Any], context: dict[str, Any], *, timeout_s: float) -> Result:
        started = time.perf_counter()
        where, args = self._where(params)
        try:
            conn = self._connect(context, timeout_s)
        except ParameterError as exc:
            return Result(False, str(exc), {}, _ms(started))
        with conn:
            conn.execute(f"SET statement_timeout = {int(timeout_s * 1000)}")
            query = f"SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE {where}"  # noqa: S608 -- fixed clauses; every value is a bound parameter
            rows = conn.execute(query, args).fetchall()
        ended = [pid for pid, ok in rows if ok]
        return Result(True, f"terminated {len(ended)} session(s)", {"pids": ended}, _ms(started))


def _escape(prefix: str) -> str:
    return prefix.replace("\\", "\\\\")


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
