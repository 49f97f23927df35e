"""Root-cause analysis: an optional LLM's reading of a signal, capped per hour; never blocks detection."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from anomalies import rca, rules
from anomalies.models import AnomalySignal
from core314.changes import record_change
from health.models import SystemHealthEvent

logger = logging.getLogger(__name__)


def _rca_facts(signal: AnomalySignal) -> dict[str, Any]:
    recent = list(
        SystemHealthEvent.objects.filter(component=signal.component)
        .exclude(source="selftest")
        .order_by("-window_start")
        .values("window_start", "status", "version", *[w.metric for w in rules.WATCHED])[:12]
    )
    metrics: dict[str, list[Any]] = {w.metric: [] for w in rules.WATCHED}
    for event in reversed(recent):
        for name in metrics:
            metrics[name].append(event[name])
    return {
        "component": {"name": signal.component.name, "type": signal.component.type},
        "anomaly": {
            "kind": signal.kind,
            "metric": signal.metric,
            "observed": signal.observed_value,
            "expected": signal.expected_value,
            "band": [signal.band_low, signal.band_high],
            "explanation": signal.explanation,
        },
        "metrics": {k: v for k, v in metrics.items() if any(x is not None for x in v)} or {signal.metric: []},
        "versions": sorted({e["version"] for e in recent if e["version"]}),
        "depends_on": [c.name for c in signal.component.depends_on.all()],
    }


def _rca_budget_left() -> bool:
    """The per-hour cap on LLM calls, counted in Redis so every worker shares it."""
    from core314.redis import get_redis, key

    hour = timezone.now().strftime("%Y%m%d%H")
    counter = key("rca", "calls", hour)
    redis = get_redis()
    used = redis.incr(counter)
    redis.expire(counter, 7200)
    return used <= settings.CORE314_LLM_MAX_CALLS_PER_HOUR


def signal_root_cause(*, signal_id: int) -> AnomalySignal | None:
    """Ask the LLM for a root cause, if one is configured and the hourly budget allows; otherwise, or on
    any failure, record that the statistical explanation stands. Runs outside detection, never blocks it."""
    signal = AnomalySignal.objects.select_related("component").filter(pk=signal_id).first()
    if signal is None or signal.root_cause:
        return signal
    result: dict[str, Any]
    if not settings.OPENAI_API_KEY:
        result = {"source": "statistical", "summary": signal.explanation, "reason": "no LLM is configured"}
    elif not _rca_budget_left():
        result = {"source": "statistical", "summary": signal.explanation, "reason": "hourly LLM call cap reached"}
    else:
        try:
            answer = rca.ask(
                _rca_facts(signal),
                api_key=settings.OPENAI_API_KEY,
                base_url=settings.OPENAI_BASE_URL,
                model=settings.CORE314_LLM_MODEL,
                timeout=settings.CORE314_LLM_TIMEOUT,
                retries=settings.CORE314_LLM_MAX_RETRIES,
            )
            result = answer.as_dict(settings.CORE314_LLM_MODEL)
        except Exception as exc:  # a failing LLM must never break the loop; the reason is kept
            logger.warning("root-cause analysis of signal %s failed: %s", signal_id, exc)
            result = {
                "source": "statistical",
                "summary": signal.explanation,
                "reason": f"LLM answer not used: {type(exc).__name__}: {str(exc)[:200]}",
            }
    with transaction.atomic():
        signal = AnomalySignal.objects.select_for_update().get(pk=signal_id)
        if signal.root_cause:
            return signal
        signal.root_cause = result
        signal.save(update_fields=["root_cause", "updated_at"])
        record_change(
            actor=None,
            system_label="root-cause",
            action="anomaly.root_cause",
            target=signal,
            after={"source": result["source"]},
            reason=result.get("reason", "") or result.get("summary", "")[:300],
            event="anomaly.updated",
        )
    return signal
