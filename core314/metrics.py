"""The platform's own figures in the Prometheus text format.

Counters and histograms live in Redis, so every process of the stack (several daphne servers, workers)
adds to the same numbers and one scrape of any server sees them all. Gauges are read at scrape time.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
COUNTERS = "metrics:counters"
HISTOGRAMS = "metrics:histograms"

HELP = {
    "core314_http_requests": "HTTP requests served, by view, method and status class.",
    "core314_http_request_duration_seconds": "Time to serve an HTTP request.",
    "core314_task_duration_seconds": "Time a Celery task ran.",
    "core314_ingested_events": "Health events and execution records stored.",
}


def _field(name: str, labels: dict[str, str]) -> str:
    return f"{name}|{json.dumps(labels, sort_keys=True)}"


def incr(name: str, labels: dict[str, str] | None = None, amount: float = 1) -> None:
    from core314.redis import get_redis, key

    try:
        get_redis().hincrbyfloat(key(COUNTERS), _field(name, labels or {}), amount)
    except Exception:
        logger.debug("metric %s not recorded", name, exc_info=True)


def observe(name: str, labels: dict[str, str], seconds: float) -> None:
    from core314.redis import get_redis, key

    base = _field(name, labels)
    try:
        pipe = get_redis().pipeline(transaction=False)
        for bound in LATENCY_BUCKETS:
            if seconds <= bound:
                pipe.hincrby(key(HISTOGRAMS), f"{base}|{bound}", 1)
        pipe.hincrby(key(HISTOGRAMS), f"{base}|+Inf", 1)
        pipe.hincrbyfloat(key(HISTOGRAMS), f"{base}|sum", seconds)
        pipe.execute()
    except Exception:
        logger.debug("metric %s not recorded", name, exc_info=True)


def observe_task(task_name: str, state: str, seconds: float) -> None:
    observe("core314_task_duration_seconds", {"task": task_name, "state": state}, seconds)


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match else "unmatched"
        if view != "metrics":  # a scrape should not count itself
            labels = {
                "view": view,
                "method": request.method or "",
                "status": f"{response.status_code // 100}xx",
            }
            incr("core314_http_requests", labels)
            observe(
                "core314_http_request_duration_seconds",
                {"view": view},
                time.perf_counter() - started,
            )
        return response


class PlatformCollector(Collector):
    """Reads the shared counters from Redis and the live gauges from PostgreSQL at scrape time.

    ``gauges`` reads the platform-wide figures (open signals, actions, queue, workers, beat); the page that
    serves /metrics passes it in, so this module stays below the loop's apps.
    """

    def __init__(self, gauges: Callable[[], Any]) -> None:
        self.gauges = gauges

    def collect(self) -> Iterator[Any]:
        yield from self._counters()
        yield from self._histograms()
        yield from self._gauges()

    def _counters(self) -> Iterator[Any]:
        from core314.redis import get_redis, key, text

        families: dict[str, CounterMetricFamily] = {}
        for raw_field, raw_value in get_redis().hgetall(key(COUNTERS)).items():
            name, labels_json = text(raw_field).split("|", 1)
            labels = json.loads(labels_json)
            if name not in families:
                families[name] = CounterMetricFamily(name, HELP.get(name, name), labels=sorted(labels))
            families[name].add_metric([labels[k] for k in sorted(labels)], float(raw_value))
        yield from families.values()

    def _histograms(self) -> Iterator[Any]:
        from core314.redis import get_redis, key, text

        series: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        for raw_field, raw_value in get_redis().hgetall(key(HISTOGRAMS)).items():
            name, labels_json, part = text(raw_field).split("|", 2)
            series[(name, labels_json)][part] = float(raw_value)
        families: dict[str, HistogramMetricFamily] = {}
        for (name, labels_json), parts in sorted(series.items()):
            labels = json.loads(labels_json)
            names = sorted(labels)
            if name not in families:
                families[name] = HistogramMetricFamily(name, HELP.get(name, name), labels=names)
            buckets = [(str(b), parts.get(str(b), 0.0)) for b in LATENCY_BUCKETS]
            buckets.append(("+Inf", parts.get("+Inf", 0.0)))
            families[name].add_metric([labels[k] for k in names], buckets, parts.get("sum", 0.0))
        yield from families.values()

    def _gauges(self) -> Iterator[Any]:
        gauges = self.gauges()
        signals = GaugeMetricFamily(
            "core314_open_anomaly_signals", "Anomaly signals not yet resolved.", labels=["severity"]
        )
        for severity, count in gauges.open_signals_by_severity.items():
            signals.add_metric([severity], count)
        yield signals
        actions = GaugeMetricFamily("core314_recovery_actions", "Recovery actions by status.", labels=["status"])
        for status, count in gauges.actions_by_status.items():
            actions.add_metric([status], count)
        yield actions
        yield GaugeMetricFamily(
            "core314_celery_queue_depth", "Tasks waiting in the default queue.", value=gauges.queue_depth
        )
        yield GaugeMetricFamily(
            "core314_celery_workers_alive", "Workers whose heartbeat is fresh.", value=gauges.workers_alive
        )
        yield GaugeMetricFamily(
            "core314_beat_last_tick_age_seconds",
            "Seconds since Celery beat last ticked (-1: never).",
            value=gauges.beat_age,
        )
