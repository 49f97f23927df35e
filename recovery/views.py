from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from core314.paging import keyset_page
from core314.services import DomainError
from core314.tenancy import get_visible_or_404, is_admin
from health.models import Component
from health.selectors import RANGES, component_list
from recovery import selectors
from recovery import services as healing
from recovery.models import ActionStatus, ActionType, RecoveryAction


def _component_id(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@login_required
def recovery_manager(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "") if request.GET.get("status") in ActionStatus.values else ""
    action_type = request.GET.get("type", "") if request.GET.get("type") in ActionType.values else ""
    span = request.GET.get("range", "24h") if request.GET.get("range") in RANGES else "24h"
    component_id = _component_id(request.GET.get("component"))
    now = timezone.now()
    components = list(component_list(actor=request.user).order_by("name").values_list("pk", "name"))
    actions = selectors.action_list(
        actor=request.user, status=status, action_type=action_type, component_id=component_id, since=now - RANGES[span]
    )
    counts = selectors.action_status_counts(actor=request.user)
    context = {
        "page": keyset_page(actions, field="created_at", after=request.GET.get("after")),
        "counts": counts,
        "summary": selectors.recovery_summary(actor=request.user, window=RANGES[span]),
        "span": span,
        "healing": selectors.healing_state(actor=request.user),
        "is_admin": is_admin(request.user),
        "breakers": [(b, b.effective_state(now)) for b in selectors.breaker_list(actor=request.user)],
        "components": components,
        "action_types": ActionType.choices,
        "filters": [
            {"name": "status", "label": "Status", "choices": ActionStatus.choices, "selected": status},
            {"name": "type", "label": "Action", "choices": ActionType.choices, "selected": action_type},
            {
                "name": "component",
                "label": "Component",
                "choices": [(str(p), n) for p, n in components],
                "selected": str(component_id or ""),
            },
            {
                "name": "range",
                "label": "Since",
                "selected": span,
                "all": False,
                "choices": [(k, f"last {k}") for k in RANGES],
            },
        ],
        "preview": request.session.pop("recovery_preview", None),
    }
    template = "recovery/dashboard.html#live" if request.htmx else "recovery/dashboard.html"
    return render(request, template, context)


@login_required
def action_detail(request: HttpRequest, pk: int) -> HttpResponse:
    action = get_visible_or_404(selectors.action_list(actor=request.user), request.user, pk=pk)
    series = selectors.action_series(actor=request.user, action=action)
    context = {
        "action": action,
        "timeline": selectors.action_timeline(actor=request.user, action=action),
        "series": series,
        "before": (action.before_metrics or {}).get(series["metric"]),
        "after": (action.after_metrics or {}).get(series["metric"]),
    }
    template = "recovery/action.html#live" if request.htmx else "recovery/action.html"
    return render(request, template, context)


action_detail.owned_model = RecoveryAction  # type: ignore[attr-defined]  # read by the tenancy walker


def _back(request: HttpRequest, default: str, **kwargs: int) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(default, **kwargs)


@login_required
@require_POST
def action_act(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    action = get_visible_or_404(RecoveryAction, request.user, pk=pk)
    reason = request.POST.get("reason", "")
    try:
        if verb == "approve":
            healing.action_approve(actor=request.user, action=action, reason=reason)
            messages.success(request, f"Action #{pk} approved: it runs now.")
        elif verb == "reject":
            healing.action_reject(actor=request.user, action=action, reason=reason)
            messages.success(request, f"Action #{pk} rejected.")
        else:
            healing.action_cancel(actor=request.user, action=action, reason=reason)
            messages.success(request, f"Action #{pk} cancelled.")
    except DomainError as exc:
        messages.error(request, str(exc))
    return _back(request, "recovery-action", pk=pk)


action_act.owned_model = RecoveryAction  # type: ignore[attr-defined]


@login_required
@require_POST
def action_manual(request: HttpRequest) -> HttpResponse:
    """Preview (dry run: the plan, nothing stored) or run an action by hand."""
    component = get_visible_or_404(Component, request.user, pk=_component_id(request.POST.get("component")) or 0)
    action_type = request.POST.get("action_type", "")
    try:
        parameters = json.loads(request.POST.get("parameters") or "{}")
    except json.JSONDecodeError as exc:
        messages.error(request, f"Parameters are not valid JSON: {exc.msg}.")
        return redirect("recovery-manager")
    try:
        if request.POST.get("run") == "1":
            action = healing.action_create_manual(
                actor=request.user,
                component=component,
                action_type=action_type,
                parameters=parameters,
                reason=request.POST.get("reason", ""),
            )
            messages.success(request, f"Action #{action.pk} queued.")
            return redirect("recovery-action", pk=action.pk)
        preview = healing.action_dry_run(
            actor=request.user, component=component, action_type=action_type, parameters=parameters
        )
        request.session["recovery_preview"] = {
            **preview,
            "component": component.pk,
            "component_name": component.name,
            "raw_parameters": json.dumps(parameters),
            "reason": request.POST.get("reason", ""),
        }
    except DomainError as exc:
        messages.error(request, str(exc))
    return redirect("recovery-manager")


@login_required
@require_POST
def healing_pause(request: HttpRequest) -> HttpResponse:
    paused = request.POST.get("paused") == "1"
    everyone = request.POST.get("everyone") == "1"
    try:
        healing.healing_pause_set(
            actor=request.user, paused=paused, reason=request.POST.get("reason", ""), everyone=everyone
        )
        who = "everyone" if everyone else "your components"
        messages.success(request, f"Automatic healing {'paused' if paused else 'resumed'} for {who}.")
    except DomainError as exc:
        messages.error(request, str(exc))
    return redirect("recovery-manager")
