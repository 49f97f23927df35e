from __future__ import annotations

import datetime as dt
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from anomalies import selectors, services
from anomalies.models import AnomalyKind, AnomalySignal, Severity, SignalStatus, Silence
from core314.paging import keyset_page
from core314.services import DomainError
from core314.tenancy import get_visible_or_404
from health.models import Component
from health.selectors import RANGES, component_list


def _choice(request: HttpRequest, name: str, values: list[str]) -> str:
    value = request.GET.get(name, "")
    return value if value in values else ""


@login_required
def anomaly_console(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    status = _choice(request, "status", SignalStatus.values)
    severity = _choice(request, "severity", Severity.values)
    kind = _choice(request, "kind", AnomalyKind.values)
    span = _choice(request, "range", list(RANGES)) or "7d"
    components = list(component_list(actor=request.user).only("id", "name"))
    component = request.GET.get("component", "")
    component_id = int(component) if component.isdigit() else None
    signals = selectors.signal_list(
        actor=request.user, status=status, severity=severity, kind=kind, component_id=component_id,
        since=now - RANGES[span],
    )  # fmt: skip
    context = {
        "page": keyset_page(signals, field="last_seen_at", after=request.GET.get("after")),
        "counts": selectors.open_signal_counts(actor=request.user),
        "by_status": selectors.status_counts(actor=request.user),
        "silences": list(selectors.silence_list(actor=request.user, active_at=now)),
        "components": components,
        "kinds": AnomalyKind.choices,
        "filters": [
            {"name": "status", "label": "Status", "choices": SignalStatus.choices, "selected": status},
            {"name": "severity", "label": "Severity", "choices": Severity.choices, "selected": severity},
            {"name": "kind", "label": "Kind", "choices": AnomalyKind.choices, "selected": kind},
            {
                "name": "component",
                "label": "Component",
                "selected": component,
                "choices": [(str(c.pk), c.name) for c in components],
            },
            {
                "name": "range",
                "label": "Since",
                "selected": span,
                "all": False,
                "choices": [(k, f"last {k}") for k in RANGES],
            },
        ],
        "default_silence_end": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
    }
    template = "anomalies/dashboard.html#live" if request.htmx else "anomalies/dashboard.html"
    return render(request, template, context)


@login_required
def signal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    signal = get_visible_or_404(selectors.signal_list(actor=request.user), request.user, pk=pk)
    context = {
        "signal": signal,
        "symptoms": selectors.signal_list(actor=request.user).filter(cause=signal),
        "timeline": selectors.signal_timeline(actor=request.user, signal=signal),
        "series": selectors.signal_series(actor=request.user, signal=signal),
    }
    template = "anomalies/signal.html#live" if request.htmx else "anomalies/signal.html"
    return render(request, template, context)


signal_detail.owned_model = AnomalySignal  # type: ignore[attr-defined]  # read by the tenancy walker


@login_required
@require_POST
def signal_act(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    signal = get_visible_or_404(AnomalySignal, request.user, pk=pk)
    note = request.POST.get("note", "")
    try:
        if verb == "acknowledge":
            services.signal_acknowledge(actor=request.user, signal=signal, note=note)
            messages.success(request, "Signal acknowledged.")
        else:
            services.signal_resolve(actor=request.user, signal=signal, note=note)
            messages.success(request, "Signal resolved.")
    except DomainError as exc:
        messages.error(request, str(exc))
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("anomaly-signal", pk=pk)


signal_act.owned_model = AnomalySignal  # type: ignore[attr-defined]


@login_required
@require_POST
def silence_add(request: HttpRequest) -> HttpResponse:
    post = request.POST
    component = None
    if post.get("component", "").isdigit():
        component = get_visible_or_404(component_list(actor=request.user), request.user, pk=int(post["component"]))
    ends = parse_datetime(post.get("ends_at", ""))
    try:
        if ends is None:
            raise DomainError("Give the silence an end time.")
        if timezone.is_naive(ends):
            ends = timezone.make_aware(ends, dt.UTC)
        services.silence_create(
            actor=request.user, component=component, kind=post.get("kind", "") if post.get("kind") in
            AnomalyKind.values else "", starts_at=timezone.now(), ends_at=ends, reason=post.get("reason", ""),
        )  # fmt: skip
        messages.success(request, "Silence created.")
    except DomainError as exc:
        messages.error(request, str(exc))
    return redirect("anomaly-console")


@login_required
@require_POST
def silence_stop(request: HttpRequest, pk: int) -> HttpResponse:
    silence = get_visible_or_404(Silence, request.user, pk=pk)
    services.silence_end(actor=request.user, silence=silence)
    messages.success(request, "Silence ended.")
    return redirect("anomaly-console")


silence_stop.owned_model = Silence  # type: ignore[attr-defined]


DETECTION_FIELDS = [
    ("threshold", "Sensitivity: threshold (robust z)", float, "5"),
    ("window", "Baseline window (events)", int, "60"),
    ("min_duration", "Anomalous events in a row before flagging", int, "1"),
    ("min_history", "Warm-up (events)", int, "24"),
    ("resolve_after_s", "Back in band this long before resolving (s)", int, "60"),
]


@login_required
def detection_settings(request: HttpRequest, pk: int) -> HttpResponse:
    """Per-component detector overrides; an empty field means the default."""
    component = get_visible_or_404(component_list(actor=request.user), request.user, pk=pk)
    current = selectors.detection_settings_for(actor=request.user, component=component)
    if request.method == "POST":
        changes: dict[str, object] = {"enabled": request.POST.get("enabled") == "on"}
        try:
            for name, label, cast, _ in DETECTION_FIELDS:
                raw = request.POST.get(name, "").strip()
                try:
                    changes[name] = cast(raw) if raw else None
                except ValueError:
                    raise DomainError(f"{label}: {raw!r} is not a number.") from None
            services.detection_settings_update(actor=request.user, component=component, **changes)
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Detection settings saved.")
        return redirect("anomaly-detection-settings", pk=component.pk)
    fields = [
        {"name": name, "label": label, "default": default, "value": getattr(current, name, None) if current else None}
        for name, label, _, default in DETECTION_FIELDS
    ]
    context = {"component": component, "fields": fields, "enabled": current.enabled if current else True}
    return render(request, "anomalies/detection_settings.html", context)


detection_settings.owned_model = Component  # type: ignore[attr-defined]  # read by the tenancy walker
