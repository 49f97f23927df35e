from __future__ import annotations

import datetime as dt
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from anomalies import filters, selectors, services
from anomalies.models import AnomalyKind, AnomalySignal, Incident, Silence
from core314.filtering import filter_bar, filter_page
from core314.http import HtmxHttpRequest
from core314.pagination import keyset_page
from core314.params import parse_id
from core314.services import DomainError
from core314.tenancy import Actor, get_visible_or_404, owned
from health.models import Component
from health.selectors import component_list

SIGNAL_FILTERS = ["status", "severity", "kind", "component", "range"]


@login_required
def anomaly_console(request: HtmxHttpRequest) -> HttpResponse:
    now = timezone.now()
    signals = filter_page(
        filters.SignalFilter, request, selectors.signal_list(actor=request.user), defaults={"range": "7d"}
    )
    bar = filter_bar(signals, SIGNAL_FILTERS)
    incidents = filter_page(
        filters.IncidentFilter, request, selectors.incident_list(actor=request.user), defaults={"range": "7d"}
    )
    context = {
        "incidents": keyset_page(incidents.qs, field="last_seen_at", after=request.GET.get("incidents_after"), size=10),
        "report": selectors.pages_per_component(actor=request.user),
        "page": keyset_page(signals.qs, field="last_seen_at", after=request.GET.get("after")),
        "counts": selectors.open_signal_counts(actor=request.user),
        "by_status": selectors.status_counts(actor=request.user),
        "silences": list(selectors.silence_list(actor=request.user, active_at=now)),
        "components": bar[SIGNAL_FILTERS.index("component")]["choices"],
        "kinds": AnomalyKind.choices,
        "filters": bar,
        "default_silence_end": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
    }
    template = "anomalies/dashboard.html#live" if request.htmx else "anomalies/dashboard.html"
    return render(request, template, context)


def _signals(actor: Actor) -> QuerySet[AnomalySignal]:
    return selectors.signal_list(actor=actor)


@login_required
@owned(AnomalySignal, "signal", queryset=_signals)
def signal_detail(request: HtmxHttpRequest, signal: AnomalySignal) -> HttpResponse:
    context = {
        "signal": signal,
        "symptoms": selectors.signal_list(actor=request.user).filter(cause=signal),
        "timeline": selectors.signal_timeline(actor=request.user, signal=signal),
        "series": selectors.signal_series(actor=request.user, signal=signal),
    }
    template = "anomalies/signal.html#live" if request.htmx else "anomalies/signal.html"
    return render(request, template, context)


def _back(request: HttpRequest, default: str, pk: int) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(default, pk=pk)


@login_required
@require_POST
@owned(AnomalySignal, "signal")
def signal_act(request: HttpRequest, signal: AnomalySignal, verb: str) -> HttpResponse:
    note = request.POST.get("note", "")
    try:
        if verb == "acknowledge":
            services.signal_acknowledge(actor=request.user, signal=signal, note=note)
            messages.success(request, "Signal acknowledged.")
        elif verb == "resolve":
            services.signal_resolve(actor=request.user, signal=signal, note=note)
            messages.success(request, "Signal resolved.")
        elif verb == "accept-normal":
            services.signal_accept_normal(actor=request.user, signal=signal, note=note)
            messages.success(request, "Accepted as the new normal: the detector relearns this metric.")
        else:
            services.signal_feedback_set(actor=request.user, signal=signal, verdict=request.POST.get("verdict", ""))
            messages.success(request, "Thanks: the report card counts it.")
    except DomainError as exc:
        messages.error(request, str(exc))
    return _back(request, "anomaly-signal", signal.pk)


def _incidents(actor: Actor) -> QuerySet[Incident]:
    return selectors.incident_list(actor=actor)


@login_required
@owned(Incident, "incident", queryset=_incidents)
def incident_detail(request: HtmxHttpRequest, incident: Incident) -> HttpResponse:
    context = {
        "incident": incident,
        "members": list(incident.signals.all()),
        "timeline": selectors.incident_timeline(actor=request.user, incident=incident),
    }
    template = "anomalies/incident.html#live" if request.htmx else "anomalies/incident.html"
    return render(request, template, context)


@login_required
@require_POST
@owned(Incident, "incident")
def incident_act(request: HttpRequest, incident: Incident, verb: str) -> HttpResponse:
    note = request.POST.get("note", "")
    try:
        if verb == "acknowledge":
            services.incident_acknowledge(actor=request.user, incident=incident, note=note)
            messages.success(request, "Incident acknowledged.")
        elif verb == "resolve":
            services.incident_resolve(actor=request.user, incident=incident, note=note)
            messages.success(request, "Incident resolved.")
        else:
            verdict = request.POST.get("verdict", "")
            services.incident_feedback_set(actor=request.user, incident=incident, verdict=verdict, note=note)
            messages.success(request, "Thanks: the report card counts it.")
    except DomainError as exc:
        messages.error(request, str(exc))
    return _back(request, "anomaly-incident", incident.pk)


@login_required
@require_POST
def silence_add(request: HttpRequest) -> HttpResponse:
    post = request.POST
    component = None
    component_id = parse_id(post, "component")
    if component_id is not None:
        component = get_visible_or_404(component_list(actor=request.user), request.user, pk=component_id)
    ends = parse_datetime(post.get("ends_at", ""))
    try:
        if ends is None:
            raise DomainError("Give the silence an end time.")
        if timezone.is_naive(ends):
            ends = timezone.make_aware(ends, dt.UTC)
        minutes = post.get("every_minutes", "").strip()
        services.silence_create(
            actor=request.user, component=component, kind=post.get("kind", "") if post.get("kind") in
            AnomalyKind.values else "", starts_at=timezone.now(), ends_at=ends, reason=post.get("reason", ""),
            match_tag=post.get("match_tag", "").strip()[:40], cron=post.get("cron", "").strip()[:100],
            duration_s=int(minutes) * 60 if minutes.isdigit() else None,
            time_zone=post.get("time_zone", "").strip()[:64] or "UTC",
        )  # fmt: skip
        messages.success(request, "Silence created.")
    except DomainError as exc:
        messages.error(request, str(exc))
    return redirect("anomaly-console")


@login_required
@require_POST
@owned(Silence, "silence")
def silence_stop(request: HttpRequest, silence: Silence) -> HttpResponse:
    services.silence_end(actor=request.user, silence=silence)
    messages.success(request, "Silence ended.")
    return redirect("anomaly-console")


DETECTION_FIELDS = [
    ("threshold", "Sensitivity: threshold (robust z)", float, "5"),
    ("window", "Baseline window (events)", int, "60"),
    ("min_duration", "Anomalous events in a row before flagging", int, "1"),
    ("min_history", "Warm-up (events)", int, "24"),
    ("resolve_after_s", "Back in band this long before resolving (s)", int, "60"),
]


@login_required
@owned(Component, "component")
def detection_settings(request: HttpRequest, component: Component) -> HttpResponse:
    """Per-component detector overrides; an empty field means the default."""
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
    context = {
        "component": component,
        "fields": fields,
        "enabled": current.enabled if current else True,
        "backtest": selectors.threshold_backtest(actor=request.user, component=component),
    }
    return render(request, "anomalies/detection_settings.html", context)
