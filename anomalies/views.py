from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from anomalies import selectors
from anomalies.models import Severity, SignalStatus
from core314.paging import keyset_page


@login_required
def anomaly_console(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "") if request.GET.get("status") in SignalStatus.values else ""
    severity = request.GET.get("severity", "") if request.GET.get("severity") in Severity.values else ""
    signals = selectors.signal_list(actor=request.user, status=status, severity=severity)
    context = {
        "page": keyset_page(signals, field="last_seen_at", after=request.GET.get("after")),
        "counts": selectors.open_signal_counts(actor=request.user),
        "filters": [
            {"name": "status", "label": "Status", "choices": SignalStatus.choices, "selected": status},
            {"name": "severity", "label": "Severity", "choices": Severity.choices, "selected": severity},
        ],
    }
    template = "anomalies/dashboard.html#live" if request.htmx else "anomalies/dashboard.html"
    return render(request, template, context)
