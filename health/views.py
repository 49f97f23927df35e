from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core314.paging import keyset_page
from health import selectors
from health.models import HealthStatus


@login_required
def system_monitor(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in HealthStatus.values:
        status = ""
    events = selectors.health_event_list(actor=request.user, status=status)
    context = {
        "page": keyset_page(events, field="window_start", after=request.GET.get("after")),
        "counts": selectors.health_event_status_counts(actor=request.user),
        "components": selectors.component_list(actor=request.user).count(),
        "filters": [
            {"name": "status", "label": "Status", "choices": HealthStatus.choices, "selected": status}
        ],
    }
    template = "health/dashboard.html#live" if request.htmx else "health/dashboard.html"
    return render(request, template, context)
