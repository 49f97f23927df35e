from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from core314.demo.services import FAULT_KINDS
from core314.paging import keyset_page
from core314.services import DomainError
from core314.tenancy import get_visible_or_404, is_admin
from health import selectors, services, thresholds
from health.models import Component, ComponentType, EventSource, HealthStatus

EXPORT_LIMIT = 100_000


def _filters(request: HttpRequest) -> dict[str, Any]:
    """The table's filters from the query string; unknown values are ignored, not errors."""
    get = request.GET
    component = get.get("component", "")
    return {
        "component_id": int(component) if component.isdigit() else None,
        "type": get.get("type", "") if get.get("type") in ComponentType.values else "",
        "status": get.get("status", "") if get.get("status") in HealthStatus.values else "",
        "source": get.get("source", "") if get.get("source") in EventSource.values else "",
        "range": get.get("range", "1h") if get.get("range") in selectors.RANGES else "1h",
    }


def _filter_fields(filters: dict[str, Any], components: list[Component]) -> list[dict[str, Any]]:
    return [
        {"name": "component", "label": "Component", "selected": str(filters["component_id"] or ""),
         "choices": [(str(c.pk), c.name) for c in components]},
        {"name": "type", "label": "Type", "selected": filters["type"], "choices": ComponentType.choices},
        {"name": "status", "label": "Status", "selected": filters["status"], "choices": HealthStatus.choices},
        {"name": "source", "label": "Source", "selected": filters["source"], "choices": EventSource.choices},
        {"name": "range", "label": "Range", "selected": filters["range"], "all": False,
         "choices": [(k, f"last {k}") for k in selectors.RANGES]},
    ]  # fmt: skip


def _events(request: HttpRequest, filters: dict[str, Any], now: datetime) -> Any:
    return selectors.health_event_list(
        actor=request.user,
        component_id=filters["component_id"],
        type=filters["type"],
        status=filters["status"],
        source=filters["source"],
        start=now - selectors.RANGES[filters["range"]],
    )


@login_required
def system_monitor(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    filters = _filters(request)
    span = selectors.RANGES[filters["range"]]
    summary = selectors.health_summary(actor=request.user, window=span, now=now)
    chart = selectors.chart_series(
        actor=request.user,
        start=now - span,
        end=now,
        component_ids=[filters["component_id"]] if filters["component_id"] else None,
    )
    context = {
        "summary": summary,
        "page": keyset_page(_events(request, filters, now), field="window_start", after=request.GET.get("after")),
        "chart": {
            "timestamps": chart.timestamps,
            "series": chart.series,
            "start": (now - span).timestamp(),
            "end": now.timestamp(),
        },
        "filters": _filter_fields(filters, [c.component for c in summary.components]),
        "export_query": request.GET.urlencode(),
        "is_admin": is_admin(request.user),
        "demo_faults": FAULT_KINDS,
    }
    template = "health/dashboard.html#live" if request.htmx else "health/dashboard.html"
    return render(request, template, context)


@login_required
def component_detail(request: HttpRequest, pk: int) -> HttpResponse:
    component = get_visible_or_404(Component, request.user, pk=pk)
    if request.method == "POST":
        return _update_settings(request, component)
    now = timezone.now()
    range_key = request.GET.get("range", "24h")
    if range_key not in selectors.RANGES:
        range_key = "24h"
    span = selectors.RANGES[range_key]
    chart = selectors.chart_series(actor=request.user, start=now - span, end=now, component_ids=[component.pk])
    events = selectors.health_event_list(actor=request.user, component_id=component.pk)
    context = {
        "component": component,
        "latest": selectors.latest_health_per_component(actor=request.user).get(component.pk),
        "availability": selectors.availability_over(
            actor=request.user, component_id=component.pk, start=now - span, end=now
        ),
        "effective_thresholds": thresholds.thresholds_for(component.type, component.thresholds),
        "thresholds_json": json.dumps(component.thresholds, indent=1) if component.thresholds else "",
        "probes": selectors.probe_list(actor=request.user).filter(component=component),
        "history": selectors.status_history(actor=request.user, component=component, limit=20),
        "depends_on": component.depends_on.all(),
        "dependents": component.dependents.all(),
        "chart": {
            "timestamps": chart.timestamps,
            "series": chart.series,
            "start": (now - span).timestamp(),
            "end": now.timestamp(),
        },
        "page": keyset_page(events, field="window_start", after=request.GET.get("after"), size=20),
        "range": range_key,
    }
    template = "health/component.html#live" if request.htmx else "health/component.html"
    return render(request, template, context)


component_detail.owned_model = Component  # type: ignore[attr-defined]  # read by the tenancy walker


def _update_settings(request: HttpRequest, component: Component) -> HttpResponse:
    post = request.POST
    try:
        raw = post.get("thresholds", "").strip()
        overrides = json.loads(raw) if raw else {}
        if not isinstance(overrides, dict):
            raise DomainError("Thresholds must be a JSON object.")
        services.component_update_settings(
            actor=request.user,
            component=component,
            thresholds_override=overrides,
            flap_bad_n=int(post["flap_bad_n"]),
            flap_window_m=int(post["flap_window_m"]),
            flap_recover_k=int(post["flap_recover_k"]),
            stale_after_s=int(post["stale_after_s"]),
        )
    except json.JSONDecodeError as exc:
        messages.error(request, f"Thresholds are not valid JSON: {exc}")
    except (KeyError, ValueError):
        messages.error(request, "Damping and staleness must be whole numbers.")
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Settings saved.")
    return redirect("health-component", pk=component.pk)


class _Echo:
    def write(self, value: str) -> str:
        return value


EXPORT_FIELDS = [
    "window_start", "window_end", "component", "source", "status", "latency_avg_ms", "latency_p50_ms",
    "latency_p95_ms", "latency_p99_ms", "latency_max_ms", "request_count", "error_count", "timeout_count",
    "error_rate", "availability", "throughput_rps", "cpu_percent", "memory_percent", "disk_percent",
    "connections", "queue_depth", "version", "region",
]  # fmt: skip


@require_GET
@login_required
def export_events(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered events table as CSV, streamed (at most EXPORT_LIMIT rows, newest first)."""
    filters = _filters(request)
    events = _events(request, filters, timezone.now()).order_by("-window_start", "-id")[:EXPORT_LIMIT]
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(EXPORT_FIELDS)
        for event in events.iterator(chunk_size=2000):
            yield writer.writerow(
                [event.component.name if name == "component" else getattr(event, name) for name in EXPORT_FIELDS]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="health-events-{timezone.now():%Y%m%d-%H%M%S}.csv"'
    return response
