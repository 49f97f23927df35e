from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from core314.demo.faults import FAULT_KINDS
from core314.exports import csv_response
from core314.filtering import filter_bar, filter_page
from core314.http import HtmxHttpRequest
from core314.pagination import keyset_page
from core314.params import RANGES, parse_choice
from core314.services import DomainError
from core314.tenancy import is_admin, owned
from health import filters, selectors, services, thresholds
from health.models import Component

EXPORT_LIMIT = 100_000


EVENT_FILTERS = ["component", "type", "status", "source", "range"]


def _events(request: HttpRequest) -> filters.HealthEventFilter:
    """The events table's filter (the API's own), over the last hour unless the page asks otherwise."""
    return filter_page(
        filters.HealthEventFilter, request, selectors.health_event_list(actor=request.user), defaults={"range": "1h"}
    )


@login_required
def system_monitor(request: HtmxHttpRequest) -> HttpResponse:
    now = timezone.now()
    events = _events(request)
    cleaned = events.form.cleaned_data
    span = RANGES[cleaned.get("range") or "1h"]
    component = cleaned.get("component")
    summary = selectors.health_summary(actor=request.user, window=span, now=now)
    chart = selectors.chart_series(
        actor=request.user, start=now - span, end=now, component_ids=[component.pk] if component else None
    )
    context = {
        "summary": summary,
        "page": keyset_page(events.qs, field="window_start", after=request.GET.get("after")),
        "chart": {
            "timestamps": chart.timestamps,
            "series": chart.series,
            "start": (now - span).timestamp(),
            "end": now.timestamp(),
        },
        "filters": filter_bar(events, EVENT_FILTERS),
        "export_query": request.GET.urlencode(),
        "is_admin": is_admin(request.user),
        "demo_faults": FAULT_KINDS,
    }
    template = "health/dashboard.html#live" if request.htmx else "health/dashboard.html"
    return render(request, template, context)


@login_required
@owned(Component, "component")
def component_detail(request: HtmxHttpRequest, component: Component) -> HttpResponse:
    if request.method == "POST":
        return _update_settings(request, component)
    now = timezone.now()
    range_key = parse_choice(request.GET, "range", RANGES, default="24h")
    span = RANGES[range_key]
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
    events = _events(request).qs.order_by("-window_start", "-id")[:EXPORT_LIMIT]
    rows = (
        [event.component.name if name == "component" else getattr(event, name) for name in EXPORT_FIELDS]
        for event in events.iterator(chunk_size=2000)
    )
    return csv_response("health-events", EXPORT_FIELDS, rows)
