"""Map series of a Prometheus text exposition onto health-event fields. Pure Python.

A mapping is ``{"metric": NAME, "field": EVENT_FIELD, "kind": KIND, "labels": {…}, "scale": 1.0}`` where
KIND is ``gauge`` (the value, summed over matching series), ``rate`` (a counter turned into a per-second
rate against the previous scrape), ``ratio`` (increase of ``metric`` matching ``labels`` over increase of
``denominator`` matching ``denominator_labels``, e.g. 5xx responses over all responses) or ``quantile``
(a histogram's ``q`` quantile over the buckets' increase since the last scrape, as PromQL's
histogram_quantile(rate(...)) computes it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

FIELDS = {
    "latency_avg_ms",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "error_rate",
    "throughput_rps",
    "cpu_percent",
    "memory_percent",
    "disk_percent",
    "connections",
    "queue_depth",
}


def _matches(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples by name (``*_total``, ``*_bucket`` … keep their suffixes)."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return samples


def _sum(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, labels: Mapping[str, str]) -> float | None:
    values = [v for lbl, v in samples.get(name, []) if _matches(lbl, labels) and math.isfinite(v)]
    return sum(values) if values else None


def _buckets(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, labels: Mapping[str, str]
) -> dict[str, float]:
    out: dict[str, float] = {}
    for lbl, value in samples.get(f"{name}_bucket", []):
        if _matches(lbl, labels) and "le" in lbl:
            out[lbl["le"]] = out.get(lbl["le"], 0.0) + value
    return out


def quantile_from_buckets(q: float, buckets: Mapping[str, float]) -> float | None:
    """histogram_quantile: linear interpolation inside the bucket that holds the q-th observation."""
    bounds = sorted(((math.inf if le == "+Inf" else float(le)), count) for le, count in buckets.items())
    if not bounds or bounds[-1][1] <= 0:
        return None
    rank = q * bounds[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for upper, count in bounds:
        if count >= rank:
            if math.isinf(upper):
                return lower_bound
            if count == lower_count:
                return upper
            return lower_bound + (upper - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = upper, count
    return None


def extract(
    text: str, mappings: list[Mapping[str, Any]], previous: Mapping[str, Any], now: float
) -> tuple[dict[str, float], dict[str, Any]]:
    """Event-field values from one scrape, and the state to keep for the next one."""
    samples = parse(text)
    values: dict[str, float] = {}
    state: dict[str, Any] = {"at": now, "counters": {}, "buckets": {}}
    elapsed = now - float(previous.get("at", 0) or 0)
    for i, mapping in enumerate(mappings):
        field, kind, name = mapping["field"], mapping.get("kind", "gauge"), mapping["metric"]
        labels = mapping.get("labels", {})
        scale = float(mapping.get("scale", 1.0))
        key = str(i)
        if kind == "gauge":
            value = _sum(samples, name, labels)
            if value is not None:
                values[field] = value * scale
        elif kind in {"rate", "ratio"}:
            current = _sum(samples, name, labels)
            denominator = (
                _sum(samples, mapping["denominator"], mapping.get("denominator_labels", {}))
                if kind == "ratio"
                else None
            )
            if kind == "ratio" and current is None and denominator is not None:
                current = 0.0  # no sample of the numerator's labels yet (no 5xx so far): none of them
            state["counters"][key] = [current, denominator]
            before = previous.get("counters", {}).get(key)
            if current is None or before is None or before[0] is None or elapsed <= 0:
                continue
            delta = current - before[0]
            if delta < 0:
                continue  # the counter reset (process restart): skip one scrape instead of a negative rate
            if kind == "rate":
                values[field] = delta / elapsed * scale
            elif denominator is not None and before[1] is not None and denominator - before[1] > 0:
                values[field] = min(1.0, delta / (denominator - before[1])) * scale
        elif kind == "quantile":
            buckets = _buckets(samples, name, labels)
            state["buckets"][key] = buckets
            before = previous.get("buckets", {}).get(key) or {}
            increase = {le: count - before.get(le, 0.0) for le, count in buckets.items()}
            if before and all(v >= 0 for v in increase.values()):
                value = quantile_from_buckets(float(mapping.get("q", 0.95)), increase)
                if value is not None:
                    values[field] = value * scale
    return values, state
